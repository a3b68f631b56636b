"""Inbound benchmark: a "balance" Telegram update through the real webhook under gunicorn,
against a bare Flask route under the same gunicorn; and the time from the webhook's answer
to the reply reaching the (fake) Telegram server.

    python bench/inbound.py [--rounds 5] [--seconds 4] [--clients 8] [--workers 2] [--database-url URL]

The production shape from the Procfile: ``gunicorn web.wsgi:app`` (``--workers``) answers
webhooks, a ``loyalty worker`` process sends (started for part 2), the real python-telegram-bot client delivers
to the fake Bot API server the tests use. SQLite in a temporary directory by default;
``--database-url`` for PostgreSQL (a fresh schema, dropped afterwards).

1. Throughput: ``--clients`` threads post as fast as they can for ``--seconds``, first to
   ``GET /`` (a bare route: a constant page; ``/healthz`` asks the database now), then to ``POST /webhooks/telegram`` (secret
   checked, the update read from its JSON, deduplicated, the core answers "balance" for a member,
   the reply written to the outbox, all in one transaction). Prints both rates, the
   server's CPU time a request (gunicorn's processes, read from /proc on Linux) and the
   rates' ratio (goal: the webhook costs at most 3x the bare route, a ratio >= 0.33),
   ``--rounds`` times, the two routes in turn; the figure is the median round's ratio. The
   sender is not running yet: sending is not part of a webhook's cost, and on one machine
   it would take CPU from the server.
2. Latency: a ``loyalty worker`` is started, delivers the backlog, then one update at a
   time: the time from the webhook's 200 to the fake receiving the sendMessage; p50 and
   p99 (goal: p99 under 100 ms).

The clients run on the same machine and take CPU from the server, the same for both routes.
Nothing asserts; it measures and prints.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "tests"):  # run as a script: the project and the test fakes
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from fakes.telegram_api import FakeTelegram, text_update  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench.databases import scratch_database  # noqa: E402
from rewards.models import OutboxMessage  # noqa: E402
from rewards.storage.db import make_engine  # noqa: E402

SECRET = "bench-secret"
GOAL_RATIO = 0.33
GOAL_P99_MS = 100.0
MEMBERS = 200  # chats that have joined; the load cycles through them


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client:
    """One keep-alive-less HTTP client thread (gunicorn's sync workers close each connection)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()


def webhook_body(update_id: int, chat_id: int, words: str = "balance") -> bytes:
    return json.dumps(text_update(update_id, chat_id, words)).encode()


HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}


def hammer(port: int, seconds: float, clients: int, make_request, numbers: Iterator[int]) -> tuple[int, int, float]:  # type: ignore[no-untyped-def]
    """(ok, failed, elapsed): ``clients`` threads calling ``make_request(client, i)``, each
    ``i`` the next of ``numbers`` (shared by the calls, so they can stay unique across runs)."""
    ok = failed = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run() -> None:
        nonlocal ok, failed
        client = Client(port)
        while time.monotonic() < deadline:
            with lock:
                i = next(numbers)
            status = make_request(client, i)
            with lock:
                if status == 200:
                    ok += 1
                else:
                    failed += 1

    began = time.monotonic()
    threads = [threading.Thread(target=run) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ok, failed, time.monotonic() - began


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process and its children have used, from /proc (Linux),
    so each run says what a request cost the server apart from the clients; 0 elsewhere."""
    total = 0.0
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        for each in [pid, *map(int, children)]:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, ValueError, IndexError):
        return 0.0
    return total


def wait_until_up(port: int, procs: list[subprocess.Popen], timeout: float = 30.0) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise SystemExit(f"{proc.args[0]} exited with {proc.returncode} on start")
        try:
            if Client(port).request("GET", "/healthz") == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not answer /healthz in time")


def wait_for_empty_outbox(database_url: str, timeout: float) -> None:
    """Until the worker has delivered the backlog (so a timed reply does not queue behind it)."""
    engine = make_engine(database_url)
    waiting = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status.in_(("queued", "sending")))
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                left = conn.execute(waiting).scalar_one()
            if not left:
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"the worker left {left} messages undelivered after {timeout:g} s")
            time.sleep(0.2)
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="how long each route is hammered a round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of bare route then webhook")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--samples", type=int, default=300, help="updates timed one at a time for latency")
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: SQLite in a temporary directory)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, FakeTelegram() as fake, \
            scratch_database(args.database_url, Path(tmp), "inbound") as database_url:
        workdir = Path(tmp)
        port = free_port()
        env = {
            **os.environ, "DATABASE_URL": database_url, "TELEGRAM_BOT_TOKEN": fake.token,
            "TELEGRAM_WEBHOOK_SECRET": SECRET, "TELEGRAM_API_BASE_URL": fake.base_url,
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "LOYALTY_QR_DIR": str(workdir / "qr"),
            # Limits are not what is measured here: every chat gets its answer at once.
            "LOYALTY_RATE_TELEGRAM": "100000", "LOYALTY_RATE_TELEGRAM_PER_CHAT": "100000",
        }
        loyalty = [str(Path(sys.executable).with_name("loyalty"))]
        for step in (["db", "upgrade"], ["demo"]):
            subprocess.run([*loyalty, *step], env=env, cwd=ROOT, check=True, capture_output=True)
        procs = [
            subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--bind",
                              f"127.0.0.1:{port}", "--log-level", "warning", "web.wsgi:app"], env=env, cwd=ROOT),
        ]
        try:
            wait_until_up(port, procs)
            print(f"database: {database_url.split(':')[0]}; gunicorn --workers {args.workers}; "
                  f"{args.clients} client threads on the same machine")
            setup = Client(port)
            update_ids = iter(range(1, 10**9))
            for chat in range(MEMBERS):  # members, so "balance" is the member's answer, not a sign-up
                for words in ("hi", "yes"):
                    assert setup.request("POST", "/webhooks/telegram", webhook_body(next(update_ids), 10_000 + chat, words),
                                         HEADERS) == 200

            server = procs[0].pid
            first_id = 10**6
            numbers = iter(range(10**12))  # update ids unique across rounds: the webhook drops redeliveries

            def post(c: Client, i: int) -> int:
                return c.request("POST", "/webhooks/telegram", webhook_body(first_id + i, 10_000 + i % MEMBERS), HEADERS)

            def measure(make_request) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
                """(requests/s, server CPU ms a request, failed) for one stretch of ``--seconds``."""
                cpu = cpu_seconds(server)
                ok, failed, elapsed = hammer(port, args.seconds, args.clients, make_request, numbers)
                return ok / elapsed, (cpu_seconds(server) - cpu) / max(ok, 1) * 1000, failed

            # Rounds alternate the two routes, so a slow spell of a shared machine falls on both
            # alike; the median of the rounds' ratios is the figure.
            ratios, cpu_bare, cpu_hook = [], [], []
            for round_no in range(1, args.rounds + 1):
                bare, bare_cpu, bare_failed = measure(lambda c, i: c.request("GET", "/"))
                hook, hook_cpu, hook_failed = measure(post)
                ratios.append(hook / bare)
                cpu_bare.append(bare_cpu)
                cpu_hook.append(hook_cpu)
                print(f"round {round_no}: bare route GET / {bare:7,.0f} requests/s ({bare_failed} failed, "
                      f"server CPU {bare_cpu:.2f} ms a request); webhook POST /webhooks/telegram {hook:7,.0f} "
                      f"requests/s ({hook_failed} failed, {hook_cpu:.2f} ms); ratio {hook / bare:.2f}")
            print(f"server CPU a request, median: bare route {statistics.median(cpu_bare):.2f} ms, "
                  f"webhook {statistics.median(cpu_hook):.2f} ms")
            print(f"ratio webhook / bare route, median of {args.rounds} rounds: {statistics.median(ratios):.2f} "
                  f"(lowest {min(ratios):.2f}, highest {max(ratios):.2f}; goal >= {GOAL_RATIO})")

            # Now the sender, as its own process: it delivers the backlog, then replies one at a time.
            procs.append(subprocess.Popen([*loyalty, "worker"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL))
            wait_for_empty_outbox(database_url, timeout=120)
            # Forget the backlog's calls: looking through thousands of them for each sample cost
            # the fake (in this process, under one GIL) milliseconds before it could note an arrival.
            fake.reset()

            latencies = []
            for n in range(args.samples):
                chat = 20_000 + n  # a fresh chat each time: its answer is the newcomer's welcome
                before = len(fake.sent(chat_id=chat))
                assert setup.request("POST", "/webhooks/telegram", webhook_body(10**8 + n, chat, "hi"), HEADERS) == 200
                answered = time.monotonic()
                if not fake.wait_for(lambda f, c=chat, b=before: len(f.sent(chat_id=c)) > b, timeout=5.0):
                    raise SystemExit(f"no reply reached the fake for sample {n}")
                latencies.append((fake.sent(chat_id=chat)[before].at - answered) * 1000)
            latencies.sort()
            p50 = statistics.median(latencies)
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            print(f"webhook answer -> reply at the provider, {len(latencies)} samples: p50 {p50:.1f} ms, "
                  f"p99 {p99:.1f} ms (goal p99 < {GOAL_P99_MS:g} ms)")
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    main()
