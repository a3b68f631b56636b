"""The clock: scheduler/jobs.py on an APScheduler 3 ``BackgroundScheduler``.

- campaigns: every minute (a campaign due at 10:00 leaves by 10:01);
- survey: every 10 minutes (the question goes out ``survey_after_hours`` after a purchase);
- metrics: every 10 minutes, the figures' summaries: the days that ended, and today so far
  (rewards/metrics/summaries.py);
- privacy: every minute (a data export or a deletion's confirmation is erased from the
  outbox within a minute of being sent; older records after ``[privacy]
  message_retention_days``);
- daily, at ``[automations] run_at`` in the program's time zone (a cron trigger in that
  zone, so 09:00 stays 09:00 across daylight-saving changes): expired codes, points expiry,
  expiry reminders, tier review, birthdays, win-back, in that order.

At start the daily jobs and the campaigns also run once, to catch up after downtime.
Every job is idempotent, so a second clock by mistake does no harm; on PostgreSQL the clock
also takes an advisory lock and a second one idles until the first goes away. The time
comes from an injectable ``clock`` callable: tests call the jobs with a chosen ``now``.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from channels.outage import Outage, is_database_trouble
from rewards.models import Program
from rewards.storage.db import schema_of
from scheduler import jobs
from scheduler.jobs import JobResult

log = logging.getLogger("loyalty.clock")

CAMPAIGN_MINUTES = 1
SURVEY_MINUTES = 10
METRICS_MINUTES = 10
PRIVACY_MINUTES = 1
# How late a job may still start (the process was busy or suspended); later, it waits for
# its next time. Coalesced: several missed times run once.
GRACE_SECONDS = {"campaigns": 5 * 60, "survey": 30 * 60, "metrics": 30 * 60, "privacy": 5 * 60, "daily": 12 * 3600}
LOCK_CLASS = 0x4C4F59  # "LOY": the advisory lock's first key
# Its second: the program in its schema, so deployments sharing a database (one schema
# each, where program ids repeat) do not hold each other's lock.
_PROGRAM_KEY = "hashtext(coalesce(CAST(:schema AS text), current_schema()) || '/' || CAST(:b AS text))"


def utcnow() -> datetime:
    return datetime.now(UTC)


class AdvisoryLock:
    """Only one clock per program acts, on PostgreSQL: a session-level advisory lock held on
    a connection of its own while the clock lives. Another clock's jobs find it taken and
    skip their turn (the lock is tried again each time, so a standby takes over when the
    first clock dies). SQLite has no such lock; the jobs' idempotency suffices there."""

    def __init__(self, engine: Engine, program_id: int) -> None:
        self.engine, self.program_id = engine, program_id
        self.conn: Connection | None = None
        self.key: dict[str, object] = {}
        # The clock's jobs ask on several threads at once (at start: daily, campaigns and metrics).
        # Unguarded, each took a connection of its own, and all but the first found the
        # lock taken and skipped their turn, as if another clock held it.
        self._mutex = threading.Lock()

    def held(self) -> bool:
        if self.engine.dialect.name != "postgresql":
            return True
        with self._mutex:
            return self._held()

    def _held(self) -> bool:
        if self.conn is not None:
            try:
                self.conn.execute(text("SELECT 1"))
                return True
            except SQLAlchemyError:  # the connection died, and the lock with it: try again
                self._close()
        # A database that does not answer raises: the clock says so, not "another clock holds it".
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            self.key = {"a": LOCK_CLASS, "schema": schema_of(conn, Program.__tablename__), "b": self.program_id}
            got = conn.execute(text(f"SELECT pg_try_advisory_lock(:a, {_PROGRAM_KEY})"), self.key).scalar()
        except BaseException:
            conn.close()
            raise
        if got:
            self.conn = conn
            return True
        conn.close()
        return False

    def release(self) -> None:
        with self._mutex:
            self._release()

    def _release(self) -> None:
        if self.conn is not None:
            try:
                self.conn.execute(text(f"SELECT pg_advisory_unlock(:a, {_PROGRAM_KEY})"), self.key)
            except SQLAlchemyError:
                pass
            self._close()

    def _close(self) -> None:
        try:
            self.conn.close()  # type: ignore[union-attr]
        except SQLAlchemyError:
            pass
        self.conn = None


class Clock:
    """The jobs of one program, runnable by hand (``run``) or on a schedule (``start``)."""

    def __init__(
        self, sessions: sessionmaker[Session], program_id: int, zone: str, run_at: tuple[int, int],
        channels: Collection[str], *, clock: Callable[[], datetime] = utcnow,
        report: Callable[[str], None] = log.info, guard: Callable[[], bool] = lambda: True,
    ) -> None:
        self.sessions, self.program_id, self.zone, self.run_at = sessions, program_id, zone, run_at
        self.channels = list(channels)
        self.clock, self.report, self.guard = clock, report, guard
        # APScheduler says every job added, run and removed at INFO; the clock reports its
        # own lines (``report``), so keep the library to warnings unless asked otherwise.
        if logging.getLogger("apscheduler").level == logging.NOTSET:
            logging.getLogger("apscheduler").setLevel(logging.WARNING)
        self.scheduler = self._build()
        self._idle_said = False
        self._outage = Outage(log, "the clock")

    def _build(self) -> BackgroundScheduler:
        zone = ZoneInfo(self.zone)
        scheduler = BackgroundScheduler(
            timezone=zone, executors={"default": ThreadPoolExecutor(3)},
        )
        hour, minute = self.run_at
        for name, trigger in (
            ("campaigns", IntervalTrigger(minutes=CAMPAIGN_MINUTES, timezone=zone)),
            ("survey", IntervalTrigger(minutes=SURVEY_MINUTES, timezone=zone)),
            ("metrics", IntervalTrigger(minutes=METRICS_MINUTES, timezone=zone)),
            ("privacy", IntervalTrigger(minutes=PRIVACY_MINUTES, timezone=zone)),
            ("daily", CronTrigger(hour=hour, minute=minute, timezone=zone)),
        ):
            scheduler.add_job(self.run, trigger, args=[name], id=name, name=name, misfire_grace_time=GRACE_SECONDS[name],
                              coalesce=True, max_instances=1)
        return scheduler

    def next_times(self, now: datetime) -> dict[str, datetime]:
        """When each job runs next after ``now`` (computed by its trigger, in the program's zone)."""
        return {job.id: job.trigger.get_next_fire_time(None, now) for job in self.scheduler.get_jobs()}

    def functions(self, name: str) -> tuple[Callable[..., JobResult], ...]:
        if name == "campaigns":
            return (self._campaigns,)
        if name == "survey":
            return (jobs.run_surveys,)
        if name == "privacy":
            return (jobs.run_privacy,)
        if name == "metrics":
            return (jobs.run_metrics,)
        if name == "daily":
            return jobs.DAILY
        raise ValueError(f"no clock job {name!r}")

    def _campaigns(self, sessions: sessionmaker[Session], program_id: int, now: datetime,
                   channels: Collection[str]) -> JobResult:
        return jobs.run_campaigns(sessions, program_id, now, channels)

    def run(self, name: str) -> list[JobResult]:
        """Run one job now; the scheduler calls this. A failing part is logged and the rest
        go on (the next run tries again: nothing was half-written, each chunk commits whole)."""
        try:
            held = self.guard()
        except Exception as error:
            if not is_database_trouble(error):
                raise
            self._outage.failed(error, f"take its lock for {name}", "each job tries again at its next run")
            return []
        if not held:
            if not self._idle_said:
                self.report(f"{name}: another clock holds this program's lock; this one idles")
                self._idle_said = True
            return []
        self._idle_said = False
        routine = name != "daily"  # the every-few-minutes jobs speak only when they did something
        started, now = time.monotonic(), self.clock()
        if not routine:
            self.report(f"job {name} started ({now.astimezone(ZoneInfo(self.zone)):%Y-%m-%d %H:%M %Z})")
        results: list[JobResult] = []
        for function in self.functions(name):
            try:
                result = function(self.sessions, self.program_id, now, self.channels)
            except Exception as error:  # noqa: BLE001 - one job's failure must not stop the clock
                part = getattr(function, "__name__", function)
                if is_database_trouble(error):  # said once for as long as it lasts, not each minute
                    self._outage.failed(error, f"run {name} ({part})", "each job tries again at its next run")
                    continue
                log.exception("clock job %s (%s) failed", name, part)
                self.report(f"  {name}: {part} failed (see the log); retried next time")
                continue
            self._outage.recovered()
            results.append(result)
            if not routine or result.changed or result.queued or result.problems:
                self.report(("  " if not routine else "") + result.line())
            for problem in result.problems:
                self.report(f"  {problem}")
        if not routine:
            self.report(f"job {name} finished in {time.monotonic() - started:.1f} s")
        return results

    def run_all(self) -> list[JobResult]:
        return [result for name in ("campaigns", "survey", "privacy", "metrics", "daily") for result in self.run(name)]

    def start(self) -> None:
        """Schedule the jobs, and run the daily ones, the campaigns and the metrics once now: a
        clock that was down at ``run_at`` catches up at once instead of a day late (every job is
        idempotent, so a day that already ran does nothing more)."""
        self.scheduler.start()
        for name in ("campaigns", "metrics", "daily"):
            self.scheduler.add_job(self.run, "date", args=[name], id=f"{name}-at-start", name=f"{name} (at start)",
                                   misfire_grace_time=GRACE_SECONDS[name])

    def stop(self, wait: bool = True) -> None:
        """Stop scheduling; with ``wait``, let a running job finish its chunk and the rest."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
