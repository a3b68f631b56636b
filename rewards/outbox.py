"""The outbox: messages decided in one transaction and delivered later by the sender.

Rows are written where the decision is made (a webhook's transaction, a campaign fan-out)
and claimed by a sender with a lease: ``status='sending'`` until ``claimed_until``. A sender
that dies leaves its rows to be claimed again when the lease runs out, so a crash re-sends at
most what was in flight and loses nothing.

Claiming is exclusive on both engines: PostgreSQL locks the chosen rows with
``FOR UPDATE SKIP LOCKED`` (concurrent senders take different rows); SQLite runs the same
statement inside the ``BEGIN IMMEDIATE`` transaction every writer holds (rewards/storage/db.py), so
one claimer at a time. Payloads are plain JSON dicts; ``bot/outbox_payload.py`` turns
Replies into them and back. Like every domain module: takes ``session`` and ``now``, never
commits. Must not import Flask, a provider SDK, ``bot`` or ``channels``.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select, update
from sqlalchemy.orm import Session

from rewards.erasure import ERASED
from rewards.models import OUTBOX_KINDS, OUTBOX_PRIORITY, OUTBOX_STATUSES, OutboxMessage
from rewards.promotions.campaigns import dedupe_prefix
from rewards.storage.bulk import insert_count, insert_many

# Rows per multi-row INSERT: well under SQLite's bound-parameter limit at ~17 columns a row.
INSERT_CHUNK = 500
# How long a message stays worth sending, by kind, counted from when it was first due
# (``due_at``: when it was queued, or the morning quiet hours held it for; an operator's
# retry makes it due again). Past that it is skipped as stale rather than sent, however it
# came to wait so long: a provider down for hours, or no sender running. An answer to what
# a customer said hours ago, or a promotion past its day, would only confuse.
STALE_AFTER: dict[str, timedelta] = {
    "reply": timedelta(hours=6),
    "notice": timedelta(hours=24),
    "campaign": timedelta(hours=24),
}
STALE = "stale"  # the reason a message skipped as too old starts with

# Set in ``session.info`` once this transaction has queued a row: whoever composes the
# application (web/sender_runtime.py) wakes the senders when it commits.
QUEUED = "loyalty.outbox_queued"


def _row(
    program_id: int, channel: str, address: str, payload: Mapping[str, Any], kind: str, now: datetime,
    member_id: int | None = None, dedupe_key: str | None = None, available_at: datetime | None = None,
    ephemeral: bool = False,
) -> dict[str, Any]:
    if kind not in OUTBOX_KINDS:
        raise ValueError(f"outbox kind must be one of {OUTBOX_KINDS}, not {kind!r}")
    return {
        "program_id": program_id, "member_id": member_id, "channel": channel, "address": address,
        "kind": kind, "priority": OUTBOX_PRIORITY[kind], "payload": dict(payload), "dedupe_key": dedupe_key,
        "status": "queued", "attempts": 0, "available_at": available_at or now, "due_at": available_at or now,
        "created_at": now,
        "ephemeral": ephemeral,
    }


def enqueue(
    session: Session, program_id: int, channel: str, address: str, payload: Mapping[str, Any], kind: str,
    now: datetime, member_id: int | None = None, dedupe_key: str | None = None,
    available_at: datetime | None = None, ephemeral: bool = False,
) -> int | None:
    """Queue one message; its id, or None when a row with this ``dedupe_key`` already exists
    (the database decides, so concurrent writers of the same key make one row). An
    ``ephemeral`` row loses its address and text once finished (rewards/erasure.py)."""
    row = _row(program_id, channel, address, payload, kind, now, member_id, dedupe_key, available_at, ephemeral)
    inserted = insert_many(session, OutboxMessage.__table__, [row], conflict=("program_id", "dedupe_key"),
                           returning=("id",))
    if not inserted:
        return None
    session.info[QUEUED] = True
    return int(inserted[0][0])


def enqueue_many(session: Session, rows: Iterable[Mapping[str, Any]], now: datetime) -> int:
    """Queue many messages in multi-row INSERTs (a campaign's fan-out). Each row is a mapping
    of ``enqueue``'s keyword arguments (program_id, channel, address, payload, kind and
    optionally member_id, dedupe_key, available_at). Rows whose dedupe key exists are left
    out. Returns how many were queued."""
    queued = 0
    chunk: list[dict[str, Any]] = []

    def flush() -> int:
        if not chunk:
            return 0
        # rewards/storage/bulk.py, not .values(chunk): a statement built with .values(rows) is
        # compiled afresh, row by row, each time, which dominated a campaign's fan-out.
        inserted = insert_count(session, OutboxMessage.__table__, chunk, conflict=("program_id", "dedupe_key"))
        chunk.clear()
        return inserted

    for row in rows:
        chunk.append(_row(now=now, **row))
        if len(chunk) >= INSERT_CHUNK:
            queued += flush()
    queued += flush()
    if queued:
        session.info[QUEUED] = True
    return queued


def claimable(now: datetime, channels: Collection[str] | None = None) -> Any:
    """Queued and due, or 'sending' under a lease that ran out (its sender died)."""
    condition = or_(
        and_(OutboxMessage.status == "queued", OutboxMessage.available_at <= now),
        and_(OutboxMessage.status == "sending", OutboxMessage.claimed_until < now),
    )
    if channels is not None:
        condition = and_(condition, OutboxMessage.channel.in_(list(channels)))
    return condition


def claim(
    session: Session, worker_id: str, now: datetime, limit: int, lease_seconds: float,
    channels: Collection[str] | None = None,
) -> list[OutboxMessage]:
    """Take up to ``limit`` due rows for ``worker_id``, replies first, oldest first, and mark
    them 'sending' until ``now + lease_seconds``. Commit soon after: on SQLite the claim
    holds the database's write lock until then. A sender runs ``skip_stale`` first, in the
    same transaction, so that what it takes is still worth sending."""
    if channels is not None and not channels:
        return []
    chosen = (
        select(OutboxMessage.id)
        .where(claimable(now, channels))
        .order_by(OutboxMessage.priority, OutboxMessage.id)
        .limit(limit)
        # Rendered on PostgreSQL only; SQLite's BEGIN IMMEDIATE already makes us the one writer.
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(chosen.scalar_subquery()))
        .values(status="sending", claimed_by=worker_id, claimed_until=now + timedelta(seconds=lease_seconds))
        .returning(OutboxMessage)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    rows = list(session.scalars(statement).all())
    rows.sort(key=lambda row: (row.priority, row.id))
    return rows


def _finish(session: Session, message_id: int, worker_id: str, **values: Any) -> bool:
    """Change a row this worker still holds. False when it does not (its lease ran out and
    another sender took it): the other sender's result stands."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == "sending", OutboxMessage.claimed_by == worker_id)
        .values(claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


def mark_sent(session: Session, message_id: int, worker_id: str, provider_message_id: str | None, now: datetime) -> bool:
    return _finish(session, message_id, worker_id, status="sent", sent_at=now, provider_message_id=provider_message_id)


def mark_failed(
    session: Session, message_id: int, worker_id: str, error: str, now: datetime, retry_at: datetime | None = None,
) -> bool:
    """A failed attempt: with ``retry_at`` the row is queued again from then (one more
    attempt counted), without it the row is failed for good."""
    values: dict[str, Any] = {"error": error[:2000], "attempts": OutboxMessage.attempts + 1}
    if retry_at is not None:
        values.update(status="queued", available_at=retry_at)
    else:
        values.update(status="failed")
    return _finish(session, message_id, worker_id, **values)


def mark_skipped(session: Session, message_id: int, worker_id: str, reason: str, now: datetime) -> bool:
    """Not sent on purpose (say, outside WhatsApp's 24-hour window with no template)."""
    return _finish(session, message_id, worker_id, status="skipped", error=reason[:2000])


def skip_stale(session: Session, now: datetime, channels: Collection[str] | None = None) -> int:
    """Skip as stale every message ``claim`` could take at ``now`` (of ``channels``, if given)
    that has waited longer than its kind allows since it was due (``STALE_AFTER``), keeping
    its last error in the reason. Returns how many. The sender runs it before each claim, in
    the same transaction, so nothing too old is ever sent: the one place staleness is decided."""
    if channels is not None and not channels:
        return 0
    skipped = 0
    for kind, window in STALE_AFTER.items():
        reason = f"{STALE}: not sent within {window / timedelta(hours=1):g} hours of being due"
        chosen = (
            select(OutboxMessage.id)
            # The status IN is implied by claimable(); spelled out, it steers SQLite to
            # ix_outbox_stale rather than to reading every due row through ix_outbox_claim.
            .where(OutboxMessage.status.in_(("queued", "sending")), OutboxMessage.kind == kind,
                   OutboxMessage.due_at <= now - window, claimable(now, channels))
            .with_for_update(skip_locked=True)  # PostgreSQL: not a row another sender is claiming
        )
        error = case((OutboxMessage.error.is_(None), reason),
                     else_=literal(reason + "; last error: ") + OutboxMessage.error)
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(chosen.scalar_subquery()))
            .values(status="skipped", error=func.substr(error, 1, 2000), claimed_until=None)
            .execution_options(synchronize_session=False)
        )
        skipped += int(result.rowcount or 0)
    return skipped


def requeue(
    session: Session, program_id: int, now: datetime, *, status: str = "failed", channel: str | None = None,
    campaign_id: int | None = None,
) -> int:
    """Queue again, due from ``now`` (so with a fresh staleness window) and with a fresh
    count of attempts, the program's messages that ``status`` "failed" or that were skipped
    as stale (``status`` "skipped"; not those skipped on purpose, such as to a member who
    blocked the bot), of one ``channel`` and one campaign if given. Returns how many."""
    if status not in ("failed", "skipped"):
        raise ValueError(f"only failed or skipped messages are queued again, not {status!r}")
    # Not an erased row (rewards/erasure.py): it has no address or text left to send.
    conditions = [OutboxMessage.program_id == program_id, OutboxMessage.status == status,
                  OutboxMessage.address != ERASED]
    if status == "skipped":
        conditions.append(OutboxMessage.error.startswith(STALE + ":", autoescape=True))
    if channel is not None:
        conditions.append(OutboxMessage.channel == channel)
    if campaign_id is not None:
        conditions.append(OutboxMessage.dedupe_key.startswith(dedupe_prefix(campaign_id), autoescape=True))
    result = session.execute(
        update(OutboxMessage).where(*conditions)
        .values(status="queued", available_at=now, due_at=now, attempts=0, error=None, claimed_by=None,
                claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:
        session.info[QUEUED] = True
    return int(result.rowcount or 0)


def release(session: Session, message_id: int, worker_id: str, available_at: datetime) -> bool:
    """Give a claimed row back untried (the provider asked us to slow down): queued again
    from ``available_at``, no attempt counted."""
    return _finish(session, message_id, worker_id, status="queued", available_at=available_at)


def counts(session: Session, program_id: int) -> dict[str, int]:
    """How many rows of the program are in each status (every status present, maybe 0)."""
    result = dict.fromkeys(OUTBOX_STATUSES, 0)
    rows = session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.program_id == program_id)
        .group_by(OutboxMessage.status)
    )
    result.update({status: int(n) for status, n in rows})
    return result


def skip_queued(session: Session, program_id: int, channel: str, address: str, reason: str) -> int:
    """Skip everything still queued for one address (it became unreachable). Returns how many."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.program_id == program_id, OutboxMessage.channel == channel,
            OutboxMessage.address == address, OutboxMessage.status == "queued",
        )
        .values(status="skipped", error=reason[:2000])
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def record_delivery_status(
    session: Session, channel: str, provider_message_id: str, status: str, now: datetime, error: str | None = None,
) -> bool:
    """A provider's later word on a sent message (delivered, read, undelivered, failed).
    False when no row of ``channel`` carries that provider id."""
    values: dict[str, Any] = {"delivery_status": status[:20], "delivery_status_at": now}
    if error:
        values["error"] = error[:2000]
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.channel == channel, OutboxMessage.provider_message_id == provider_message_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)

