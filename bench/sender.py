"""Sender benchmark: messages per second through the real outbox sender and the real
python-telegram-bot client, against the fake Bot API server the tests use.

    python bench/sender.py [--messages N] [--rate 30] [--seconds 10] [--database-url URL]

Two runs over queued campaign messages to distinct chats:
1. no limit: how fast the sender goes when nothing holds it back (claim, render, HTTP call
   to the fake, record the result);
2. a channel limit of ``--rate`` messages a second (Telegram allows about 30/s): the rate
   reached, as a share of the limit (goal: at least 98%), and the most messages the fake
   received in any one second, sliding over every arrival (goal: never above the limit).

The fake runs in a process of its own (``tests/fakes/telegram_api.py``), as Telegram is
elsewhere: in this process its arrival stamps waited for the GIL behind the sender's and
python-telegram-bot's threads, up to 10 ms, which reads as network jitter that is not there.

Nothing asserts; it measures and prints. SQLite in a temporary directory by default
(opened with ``rewards.storage.db.make_engine`` as the app does); ``--database-url`` for PostgreSQL
(a fresh schema, dropped afterwards).
"""
from __future__ import annotations

import argparse
import bisect
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

from bench.databases import scratch_database  # noqa: E402
from channels.sender import Limits, Sender  # noqa: E402
from channels.telegram import TelegramAdapter  # noqa: E402
from rewards import outbox  # noqa: E402
from rewards.models import Base  # noqa: E402
from rewards.program.config import DEMO_PROGRAM_PATH, load_program_file  # noqa: E402
from rewards.program.programs import sync_program  # noqa: E402
from rewards.storage.db import make_engine, session_factory  # noqa: E402

GOAL_SHARE = 0.98


def queue(sessions, program_id: int, n: int, run: str) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    with sessions.begin() as session:
        outbox.enqueue_many(session, (
            dict(program_id=program_id, channel="telegram", address=str(100_000 + i),
                 payload={"text": f"Double points this weekend! ({run} {i})"}, kind="campaign",
                 dedupe_key=f"bench:{run}:{i}")
            for i in range(n)
        ), now)


class FakeProcess:
    """The fake Bot API server in a child process; what it received, read over HTTP."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fakes" / "telegram_api.py")],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if len(line) != 2:
            self.stop()
            raise SystemExit("the fake Bot API server did not start")
        self.base_url, self.token = line

    def sent(self, after: int = 0) -> tuple[int, list[float]]:
        """(messages delivered so far, arrival times of those after the first ``after``)."""
        with urllib.request.urlopen(f"{self.base_url}/_fake/sent?after={after}", timeout=10) as response:
            body = json.load(response)
        return int(body["count"]), [float(t) for t in body["at"]]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self) -> FakeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def drain(sender: Sender, fake: FakeProcess, n: int) -> tuple[float, list[float]]:
    """Run the sender until the fake has ``n`` more messages; (seconds, their arrival times)."""
    stop = threading.Event()
    start, _ = fake.sent(10**9)
    began = time.monotonic()
    thread = threading.Thread(target=sender.run, args=(stop,), daemon=True)
    thread.start()
    while fake.sent(10**9)[0] - start < n:
        if not thread.is_alive():
            raise SystemExit("the sender stopped before delivering everything")
        time.sleep(0.01)
    elapsed = time.monotonic() - began
    stop.set()
    thread.join(30)
    return elapsed, sorted(fake.sent(start)[1])


def max_in_any_second(arrivals: list[float]) -> int:
    """The most arrivals inside any window [t, t + 1 s), t at each arrival."""
    return max(bisect.bisect_left(arrivals, t + 1.0) - i for i, t in enumerate(arrivals))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="messages for the no-limit run")
    parser.add_argument("--rate", type=float, default=30.0, help="the channel limit, messages a second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the limited run lasts")
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: SQLite in a temporary directory)")
    args = parser.parse_args()

    with FakeProcess() as fake, tempfile.TemporaryDirectory() as tmp, \
            scratch_database(args.database_url, Path(tmp), "sender") as database_url:
        engine = make_engine(database_url)
        Base.metadata.create_all(engine)
        sessions = session_factory(engine)
        with sessions.begin() as session:
            program_id = sync_program(session, load_program_file(DEMO_PROGRAM_PATH), datetime.now(UTC)).id
        adapter = TelegramAdapter(fake.token, fake.base_url)
        print(f"database: {engine.dialect.name}; provider: fake Bot API at {fake.base_url} through python-telegram-bot")
        try:
            queue(sessions, program_id, args.messages, "free")
            sender = Sender(sessions, {"telegram": adapter}, batch_size=50)
            elapsed, _ = drain(sender, fake, args.messages)
            print(f"no limit:   {args.messages} messages in {elapsed:.2f} s = {args.messages / elapsed:,.0f} messages/s")

            n = int(args.rate * args.seconds)
            queue(sessions, program_id, n, "limited")
            limited = Sender(sessions, {"telegram": adapter}, limits={"telegram": Limits(rate=args.rate)}, batch_size=50)
            elapsed, arrivals = drain(limited, fake, n)
            # The rate between the first and the last arrival: n - 1 intervals.
            achieved = (n - 1) / (arrivals[-1] - arrivals[0])
            peak = max_in_any_second(arrivals)
            print(f"limit {args.rate:g}/s: {n} messages in {elapsed:.2f} s; achieved {achieved:.2f}/s = "
                  f"{achieved / args.rate:.1%} of the limit (goal >= {GOAL_SHARE:.0%}); "
                  f"most in any one second: {peak} (goal <= {args.rate:g})")
        finally:
            adapter.close()
            engine.dispose()


if __name__ == "__main__":
    main()
