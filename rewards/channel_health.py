"""How each channel is doing, for operators: what waits in the outbox, and whether the
channel's provider is failing (since when, how many sends in a row, the last error).

The sender (channels/sender.py) notes a failure it will retry (5xx, a network error) with
``note_failure`` in the transaction that re-queues the message, and the first success after
with ``note_recovery``; a healthy channel writes nothing. A refusal of one message (a blocked
bot, an invalid number) or a 429 says the provider is up, so neither counts. Read by
``GET /healthz/details`` and the worker's progress line (web/). Takes ``session`` and ``now``,
never commits.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from rewards.models import ChannelHealth, OutboxMessage
from rewards.storage.bulk import insert_many

ERROR_CHARS = 300  # enough to tell what went wrong; an error is not a log


def note_failure(session: Session, channel: str, error: str, now: datetime) -> None:
    """One more send of ``channel`` failed for a reason that is retried."""
    values = {"consecutive_failures": ChannelHealth.consecutive_failures + 1, "last_error": error[:ERROR_CHARS],
              "last_failure_at": now,
              "failing_since": func.coalesce(ChannelHealth.failing_since, now)}
    statement = update(ChannelHealth).where(ChannelHealth.channel == channel).values(**values) \
        .execution_options(synchronize_session=False)
    if session.execute(statement).rowcount:
        return
    # The channel's first failure ever: its row, made once (two senders may race to make it).
    insert_many(session, ChannelHealth.__table__, [{"channel": channel, "consecutive_failures": 0}],
                conflict=("channel",))
    session.execute(statement)


def note_recovery(session: Session, channel: str, now: datetime) -> bool:
    """A send of ``channel`` went through: it is not failing (any more). True if it was."""
    result = session.execute(
        update(ChannelHealth)
        .where(ChannelHealth.channel == channel, ChannelHealth.failing_since.is_not(None))
        .values(failing_since=None, consecutive_failures=0, recovered_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


@dataclass(frozen=True, slots=True)
class ChannelReport:
    channel: str
    queued: int = 0  # waiting or in flight, due or not (quiet hours, a retry's backoff)
    retrying: int = 0  # of those, failed at least once and waiting to be tried again
    oldest_waiting_seconds: int | None = None  # since it was queued, of those due or retrying
    failing_since: datetime | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
    last_failure_at: datetime | None = None

    @property
    def failing(self) -> bool:
        return self.failing_since is not None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("failing_since", "last_failure_at"):
            data[key] = data[key].isoformat() if data[key] else None
        data["failing"] = self.failing
        return data


def report(session: Session, now: datetime) -> list[ChannelReport]:
    """Every channel that has something waiting or a health record, by name."""
    waiting = or_(OutboxMessage.status == "sending",
                  and_(OutboxMessage.status == "queued",
                       or_(OutboxMessage.available_at <= now, OutboxMessage.attempts > 0)))
    rows = session.execute(
        select(OutboxMessage.channel, func.count(),
               func.sum(case((OutboxMessage.attempts > 0, 1), else_=0)),
               func.min(case((waiting, OutboxMessage.created_at), else_=None)))
        .where(OutboxMessage.status.in_(("queued", "sending")))
        .group_by(OutboxMessage.channel)
    ).all()
    backlog = {channel: (int(n), int(retrying or 0), oldest) for channel, n, retrying, oldest in rows}
    health = {row.channel: row for row in session.scalars(select(ChannelHealth))}
    reports = []
    for channel in sorted(set(backlog) | set(health)):
        queued, retrying, oldest = backlog.get(channel, (0, 0, None))
        h = health.get(channel)
        reports.append(ChannelReport(
            channel, queued, retrying,
            None if oldest is None else max(0, int((now - oldest).total_seconds())),
            h.failing_since if h else None, h.consecutive_failures if h else 0,
            h.last_error if h and h.failing_since else None, h.last_failure_at if h else None,
        ))
    return reports
