"""Inbound benchmark: a "balance" Telegram update through the real webhook under gunicorn,
against a bare Flask route under the same gunicorn; and the time from the webhook's answer
to the reply reaching the (fake) Telegram server.

    python bench/inbound.py [--rounds 5] [--seconds 4] [--clients 8] [--threads 2] [--workers 2] [--database-url URL]

The production shape from the Procfile: ``gunicorn web.wsgi:app`` (``--workers``) answers
webhooks, a ``loyalty worker`` process sends (started for part 2), the real python-telegram-bot client delivers
to the fake Bot API server the tests use. SQLite in a temporary directory by default;
``--database-url`` for PostgreSQL (a fresh schema, dropped afterwards).

1. Throughput: ``wrk`` (the load generator; ``apt-get install wrk``) drives each route for
   ``--seconds`` over ``--clients`` connections from ``--threads`` threads, first ``GET /``
   (a bare route: a constant page; ``/healthz`` asks the database now), then
   ``POST /webhooks/telegram`` (secret checked, the update read from its JSON,
   deduplicated, the core answers "balance" for a member, the reply written to the outbox,
   all in one transaction). A small Lua script makes each POST a different update (its own
   update_id and message_id from a per-thread counter, so none is a cheap redelivery).
   Prints both rates, the server's CPU time a request (gunicorn's processes, read from
   /proc on Linux) and the rates' ratio (goal: the webhook costs at most 3x the bare route,
   a ratio >= 0.33), ``--rounds`` times, the two routes in turn; the figure is the median
   round's ratio. The sender is not running yet: sending is not part of a webhook's cost,
   and on one machine it would take CPU from the server.
2. Latency: a ``loyalty worker`` is started, delivers the backlog, then one update at a
   time: the time from the webhook's 200 to the fake receiving the sendMessage; p50 and
   p99 (goal: p99 under 100 ms).

wrk runs on the same machine and takes CPU from the server, the same for both routes.
Nothing asserts; it measures and prints.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
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
FIRST_CHAT = 10_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client:
    """A keep-alive-less HTTP client for the setup and the latency part (gunicorn's sync
    workers close each connection)."""

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


# The webhook's POST for wrk: the body is the JSON ``text_update`` makes, its ids filled in per
# request, so each request is a new update. Ids: base + counter * threads + thread number.
WRK_SCRIPT = """
local template = [==[%(template)s]==]
local base, threads, members, first_chat = %(base)s, %(threads)d, %(members)d, %(first_chat)d
local counter = 0
local numbered = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Telegram-Bot-Api-Secret-Token"] = "%(secret)s"

function setup(thread)
  thread:set("number", numbered)
  numbered = numbered + 1
end

function request()
  local i = counter * threads + number
  counter = counter + 1
  local body = template:gsub("{UPDATE}", string.format("%%d", base + i))
  body = body:gsub("{CHAT}", string.format("%%d", first_chat + i %% members))
  return wrk.format(nil, nil, nil, body)
end
"""
UPDATE_MARK, CHAT_MARK = 987_654_321, 876_543_219  # numbers the template cannot hold otherwise


def wrk_script(path: Path, base: int, threads: int) -> Path:
    """Write the Lua script that posts "balance" updates numbered from ``base``."""
    template = webhook_body(UPDATE_MARK, CHAT_MARK).decode()
    template = template.replace(str(UPDATE_MARK), "{UPDATE}").replace(str(CHAT_MARK), "{CHAT}")
    path.write_text(WRK_SCRIPT % {"template": template, "base": base, "threads": threads, "members": MEMBERS,
                                  "first_chat": FIRST_CHAT, "secret": SECRET})
    return path


def run_wrk(url: str, seconds: int, clients: int, threads: int, script: Path | None = None) -> tuple[float, int, int]:
    """(requests/s, requests, failed) from one wrk run; failed: wrk's non-2xx/3xx responses
    and socket errors."""
    command = ["wrk", "--threads", str(threads), "--connections", str(clients), "--duration", f"{seconds}s",
               "--timeout", "30s"]
    if script is not None:
        command += ["--script", str(script)]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    found = {m.group(1): m.group(2) for m in re.finditer(r"^\s*(Requests/sec|Non-2xx or 3xx responses):\s*([\d.]+)",
                                                          out.stdout, re.MULTILINE)}
    total = re.search(r"^\s*(\d+) requests in", out.stdout, re.MULTILINE)
    if "Requests/sec" not in found or total is None:
        raise SystemExit(f"could not read wrk's output:\n{out.stdout}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out.stdout)
    failed = int(found.get("Non-2xx or 3xx responses", 0)) + (sum(map(int, errors.groups())) if errors else 0)
    return float(found["Requests/sec"]), int(total.group(1)), failed


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
    """Until the worker has delivered the backlog (so a timed reply does not queue behind it);
    past ``timeout`` only while it still delivers."""
    engine = make_engine(database_url)
    waiting = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status.in_(("queued", "sending")))
    deadline = time.monotonic() + timeout
    before, progress_at = None, time.monotonic()
    try:
        while True:
            with engine.connect() as conn:
                left = conn.execute(waiting).scalar_one()
            if not left:
                return
            if left != before:  # the worker is getting through it: the backlog of the rounds can be large
                before, progress_at = left, time.monotonic()
            if time.monotonic() > deadline and time.monotonic() - progress_at > 10:
                raise SystemExit(f"the worker left {left} messages undelivered after {timeout:g} s, "
                                 "and delivered none in the last 10 s")
            time.sleep(0.2)
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=4, help="how long wrk drives each route a round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of bare route then webhook")
    parser.add_argument("--clients", type=int, default=8, help="wrk's concurrent connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk's threads (at most --clients)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--samples", type=int, default=300, help="updates timed one at a time for latency")
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: SQLite in a temporary directory)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: the throughput part needs it (apt-get install wrk)")
    threads = max(1, min(args.threads, args.clients))

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
                  f"wrk: {threads} threads, {args.clients} connections, on the same machine")
            setup = Client(port)
            update_ids = iter(range(1, 10**9))
            for chat in range(MEMBERS):  # members, so "balance" is the member's answer, not a sign-up
                for words in ("hi", "yes"):
                    assert setup.request("POST", "/webhooks/telegram", webhook_body(next(update_ids), FIRST_CHAT + chat, words),
                                         HEADERS) == 200

            server = procs[0].pid
            first_id = 10**6

            def measure(path: str, script: Path | None = None) -> tuple[float, float, int]:
                """(requests/s, server CPU ms a request, failed) for one wrk run of ``--seconds``."""
                cpu = cpu_seconds(server)
                rate, requests, failed = run_wrk(f"http://127.0.0.1:{port}{path}", args.seconds, args.clients,
                                                 threads, script)
                return rate, (cpu_seconds(server) - cpu) / max(requests, 1) * 1000, failed

            # Rounds alternate the two routes, so a slow spell of a shared machine falls on both
            # alike; the median of the rounds' ratios is the figure.
            ratios, cpu_bare, cpu_hook = [], [], []
            for round_no in range(1, args.rounds + 1):
                bare, bare_cpu, bare_failed = measure("/")
                # update ids unique across rounds (the webhook drops redeliveries): a billion a round
                script = wrk_script(workdir / "webhook.lua", first_id + round_no * 10**9, threads)
                hook, hook_cpu, hook_failed = measure("/webhooks/telegram", script)
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
