"""``loyalty clock``: the scheduler alone, for a process of its own (Procfile ``clock``).

Exactly one clock should run per program (``loyalty clock``, or the one inside ``loyalty
serve``); never one in each web worker. Its jobs only write rows and are idempotent, so a
second clock by mistake sends nothing twice, and on PostgreSQL it idles behind an advisory
lock. SIGTERM or Ctrl-C: a running job finishes the chunk in hand, and it exits 0.
"""
from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

import click

from rewards.program.config import ProgramConfig
from scheduler.clock import CAMPAIGN_MINUTES, PRIVACY_MINUTES, SURVEY_MINUTES, AdvisoryLock, Clock
from web.cli.support import command
from web.runtime import Runtime, runtime


class Running(NamedTuple):
    clock: Clock
    lock: AdvisoryLock
    config: ProgramConfig

    def stop(self) -> None:
        self.clock.stop()
        self.lock.release()


def for_runtime(rt: Runtime, report: Callable[[str], None]) -> Running:
    """The clock for the program this runtime serves, waking this runtime's sender."""
    with rt.transaction() as session:
        program, config = rt.program(session)
        program_id = program.id
    lock = AdvisoryLock(rt.engine, program_id)
    clock = Clock(rt.sessions, program_id, config.timezone, config.automations.run_time, rt.enabled_channels,
                  clock=rt.clock, report=report, guard=lock.held)
    return Running(clock, lock, config)


def describe(config: ProgramConfig) -> list[str]:
    """What the clock will do, from the program file, for the start-up lines."""
    a, e = config.automations, config.expiry
    expiry = "off" if not a.points_expiry or e.after_days <= 0 else (
        f"{e.after_days} days after earning" + (f", reminder {e.remind_days_before} days before" if e.remind_days_before else ""))
    survey = "off"
    if a.survey_after_hours:
        survey = f"{a.survey_after_hours} h after a purchase, at most every {a.survey_every_days} days"
        survey += f", {config.earning.survey_bonus} points for an answer" if config.earning.survey_bonus else ""
    return [
        f"daily at {a.run_at} {config.timezone}:",
        f"  points expiry     {expiry}",
        "  expired codes     on (their points come back)",
        f"  tier review       {'on' if a.tier_review else 'off'}",
        f"  birthdays         {'off' if not a.birthday else f'on ({config.earning.birthday_bonus} points)'}",
        f"  win-back          {f'after {a.win_back_days} days inactive' if a.win_back_days else 'off'}",
        f"every {SURVEY_MINUTES} minutes:",
        f"  survey            {survey}",
        f"every {CAMPAIGN_MINUTES} minute: campaigns that are due",
        f"every {PRIVACY_MINUTES} minute: privacy (message records kept {config.privacy.message_retention_days} days)",
    ]


@command("clock")
@click.option("--once", is_flag=True, help="Run every job once now and exit (a check, or a setup driven by cron).")
def clock_command(once: bool) -> None:
    """Run the scheduler: campaigns, points expiry and reminders, birthdays, win-back, tier
    review, the survey and privacy (erasing old message records). Exactly one clock per program (see docs/campaigns.md)."""
    rt = runtime()
    rt.ensure_schema()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("apscheduler").setLevel(logging.WARNING)  # our own lines say when jobs run
    running = for_runtime(rt, click.echo)
    clock, config = running.clock, running.config
    if once:
        click.echo(f"clock: running every job once ({config.name})")
        try:
            clock.run_all()
        finally:
            running.lock.release()
        return

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    guard = " (PostgreSQL advisory lock: a second clock idles)" if rt.engine.dialect.name == "postgresql" else ""
    click.echo(f"clock started for {config.name} on {rt.engine.dialect.name}{guard}")
    for line in describe(config):
        click.echo(line)
    try:
        clock.start()
        for name, when in sorted(clock.next_times(rt.clock()).items(), key=lambda item: item[1]):
            click.echo(f"next {name}: {when:%Y-%m-%d %H:%M %Z}")
        click.echo("Ctrl-C to stop")
        while not stop.wait(0.2):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        click.echo("stopping: a running job finishes its chunk")
        running.stop()
        click.echo("clock stopped")


COMMANDS: tuple[click.Command, ...] = (clock_command,)
