"""``loyalty worker``: the outbox sender alone, for a process of its own (Procfile ``worker``).

On PostgreSQL it LISTENs for the web processes' NOTIFY and polls every few seconds besides;
on SQLite it polls often. SIGTERM or Ctrl-C: it finishes the message in hand, gives the rest
of its batch back and exits 0. Any number of workers may run (no row is sent twice), but
each keeps its own rate limits: with N workers, divide LOYALTY_RATE_* by N.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

import click

from rewards.models import OUTBOX_NOTIFY_CHANNEL
from web import sender_runtime
from web.cli.support import command
from web.runtime import runtime


@command("worker")
@click.option("--poll", "poll_seconds", type=click.FloatRange(min=0.01), default=None,
              help="Seconds between looks at the outbox when nothing wakes it  [default: 5 on PostgreSQL, 0.5 on SQLite]")
@click.option("--report-every", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds between progress lines.")
def worker_command(poll_seconds: float | None, report_every: float) -> None:
    """Send queued messages (replies, notices, campaigns) until stopped."""
    rt = runtime()
    rt.ensure_schema()
    postgres = rt.engine.dialect.name == "postgresql"
    if poll_seconds is None:
        poll_seconds = 5.0 if postgres else 0.5
    limits = sender_runtime.limits(rt.settings)
    service = sender_runtime.for_runtime(rt, poll_seconds=poll_seconds)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    woken = f"LISTEN {OUTBOX_NOTIFY_CHANNEL}, and a look every {poll_seconds:g} s" if postgres \
        else f"watching the database file for commits, and a look every {poll_seconds:g} s"
    click.echo(f"worker {service.worker_id} started on {rt.engine.dialect.name} ({woken})")
    for line in sender_runtime.channel_lines(rt.settings, service.channels):
        click.echo(line)
    click.echo(f"rates: {sender_runtime.describe(limits, service.channels)}")
    service.start()
    started = time.monotonic()
    last = service.tally.snapshot()
    try:
        while not stop.wait(report_every):
            now = service.tally.snapshot()
            sent, failed, skipped, retried, paused = (a - b for a, b in zip(now, last, strict=True))
            last = now
            try:
                backlog = service.progress()
            except Exception as error:  # noqa: BLE001 - a progress line must not stop the worker
                backlog = f"backlog unknown ({type(error).__name__})"
            click.echo(f"last {report_every:g} s: sent {sent}, failed {failed}, skipped {skipped}, "
                       f"retried {retried}, paused {paused}; {backlog}")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        click.echo("stopping: finishing the message in hand")
        stopped = service.stop()
        elapsed = time.monotonic() - started
        per_channel = ", ".join(f"{channel} {n}" for channel, n in sorted(service.tally.by_channel.items()))
        click.echo(f"stopped after {elapsed:.0f} s: sent {service.tally.sent} in total"
                   + (f" ({per_channel})" if per_channel else "")
                   + ("" if stopped else "; the sender did not finish in time"))


COMMANDS: tuple[click.Command, ...] = (worker_command,)
