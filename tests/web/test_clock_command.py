"""``loyalty clock``: the scheduler alone. Its schedule is computed in the program's time
zone; it runs as a real process and stops on Ctrl-C with exit status 0."""
from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from flask.cli import ScriptInfo
from running import Running, clean_env, loyalty
from sqlalchemy.orm import Session, sessionmaker

from rewards.models import Program
from rewards.program.config import DEMO_PROGRAM_PATH
from scheduler.clock import Clock
from web.app import create_app
from web.cli import cli
from web.settings import Settings


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_daily_jobs_run_at_program_time_across_a_daylight_saving_change(sessions: sessionmaker[Session],
                                                                           program: Program) -> None:
    clock = Clock(sessions, program.id, "America/New_York", (9, 0), ["terminal"])
    # 09:00 EST is 14:00 UTC; after the change on 8 March, 09:00 EDT is 13:00 UTC.
    assert clock.next_times(utc("2026-03-06T15:00:00"))["daily"] == utc("2026-03-07T14:00:00")
    assert clock.next_times(utc("2026-03-07T15:00:00"))["daily"] == utc("2026-03-08T13:00:00")
    assert clock.next_times(utc("2026-03-08T12:59:00"))["daily"] == utc("2026-03-08T13:00:00")
    madrid = Clock(sessions, program.id, "Europe/Madrid", (7, 30), ["terminal"])
    assert madrid.next_times(utc("2026-03-29T00:00:00"))["daily"] == utc("2026-03-29T05:30:00")  # CEST already
    jobs = {job.id: job for job in clock.scheduler.get_jobs()}
    assert set(jobs) == {"campaigns", "survey", "privacy", "metrics", "daily"}
    assert all(job.coalesce and job.max_instances == 1 and job.misfire_grace_time for job in jobs.values())


def test_a_clock_that_does_not_hold_the_lock_idles(sessions: sessionmaker[Session], program: Program) -> None:
    said: list[str] = []
    idle = Clock(sessions, program.id, "America/New_York", (9, 0), ["terminal"], report=said.append, guard=lambda: False)
    assert idle.run("daily") == [] and idle.run("daily") == []
    assert said == ["daily: another clock holds this program's lock; this one idles"]  # said once
    busy = Clock(sessions, program.id, "America/New_York", (9, 0), ["terminal"], report=said.append,
                 clock=lambda: utc("2026-03-08T13:00:00"))
    assert [r.job for r in busy.run("daily")] == ["expired codes", "points expiry", "expiry reminders", "tier review",
                                                   "birthdays", "win-back"]
    assert said[1] == "job daily started (2026-03-08 09:00 EDT)"


def test_clock_once_runs_every_job_and_prints_counts(tmp_path: Path) -> None:
    settings = Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
                                  "LOYALTY_PROGRAM_FILE": str(DEMO_PROGRAM_PATH), "LOYALTY_QR_DIR": str(tmp_path)})
    app = create_app(settings)
    try:
        result = CliRunner().invoke(cli, ["clock", "--once"], obj=ScriptInfo(create_app=lambda: app))
    finally:
        app.extensions["loyalty"].engine.dispose()
    assert result.exit_code == 0, result.output
    assert "job daily started" in result.output and "job daily finished" in result.output
    assert "points expiry: 0 looked at, 0 done, 0 messages queued" in result.output


def test_loyalty_clock_runs_alone_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = clean_env(f"sqlite:///{tmp_path / 'clock.db'}", tmp_path, LOYALTY_PROGRAM_FILE=str(DEMO_PROGRAM_PATH))
    with Running(loyalty("clock"), env, tmp_path) as clock:
        clock.wait_for("Ctrl-C to stop")
        assert clock.stop(signal.SIGINT) == 0
    console = clock.output
    assert "clock started for Bean There Coffee on sqlite" in console
    assert "daily at 09:00 America/New_York:" in console and "win-back          after 60 days inactive" in console
    assert "next daily: " in console and "clock stopped" in console
