"""Erasing personal data from the message tables: at "delete my data", and after the
retention period for everyone (messages, and what strangers left: the channel identity of
someone who never joined, a sign-up's saved number, an invite nobody took).

What a message row keeps once erased: its id, program, member id, channel, kind, status,
dedupe key, provider id and times (counts, campaign statistics and "was this sent?" still
work); its address becomes ``ERASED`` and its payload (the text, buttons, a code's QR) and
error (a provider's error may quote the number) are emptied. Inbound delivery records are
deleted outright: they only exist so a provider's retry (seconds to hours later) is handled
once. Like every domain module: takes ``session`` and ``now``, never commits.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, select, tuple_, update
from sqlalchemy.orm import Session

from rewards import referrals
from rewards.models import CodeAttempt, Identity, InboundMessage, OutboxMessage

ERASED = "erased"
FINISHED = ("sent", "failed", "skipped")
DELETED_REASON = "not sent: the member deleted their data"
BATCH = 1000  # rows per statement, so one run of the clock never holds the database long


def _erase(ids: Iterable[int] | object, **values: object) -> object:
    return (
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))  # type: ignore[arg-type]
        .values(address=ERASED, payload={}, ephemeral=False, **values)
        .execution_options(synchronize_session=False)
    )


def forget_addresses(session: Session, program_id: int, addresses: Iterable[tuple[str, str]]) -> int:
    """Erase every outbox row to these (channel, address) pairs; what was still to be sent
    is skipped. Returns how many rows were erased."""
    pairs = sorted(set(addresses))
    if not pairs:
        return 0
    rows = select(OutboxMessage.id).where(
        OutboxMessage.program_id == program_id,
        tuple_(OutboxMessage.channel, OutboxMessage.address).in_(pairs),
    )
    pending = session.execute(_erase(
        rows.where(OutboxMessage.status.in_(("queued", "sending"))).scalar_subquery(),
        status="skipped", error=DELETED_REASON, claimed_until=None,
    )).rowcount
    finished = session.execute(_erase(rows.scalar_subquery(), error=None)).rowcount
    return int(pending or 0) + int(finished or 0)


def forget_inbound(session: Session, program_id: int, channel: str, prefix: str) -> int:
    """Delete the delivery records of ``channel`` whose provider id starts with ``prefix``
    (the web chat's ids once began with the customer's phone)."""
    result = session.execute(
        delete(InboundMessage).where(
            InboundMessage.program_id == program_id, InboundMessage.channel == channel,
            InboundMessage.provider_message_id.startswith(prefix, autoescape=True),
        ).execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def erase_ephemeral(session: Session, program_id: int, limit: int = BATCH) -> int:
    """Erase ephemeral rows (a data export, the deletion's confirmation) once finished."""
    ids = (
        select(OutboxMessage.id)
        .where(OutboxMessage.ephemeral.is_(True), OutboxMessage.program_id == program_id,
               OutboxMessage.status.in_(FINISHED))
        .order_by(OutboxMessage.id).limit(limit)
    )
    return int(session.execute(_erase(ids.scalar_subquery(), error=None)).rowcount or 0)


@dataclass
class Pruned:
    inbound: int = 0  # delivery records deleted
    outbox: int = 0  # message rows erased
    code_attempts: int = 0  # wrong-code records deleted
    strangers: int = 0  # identities of people who never joined, silent since, deleted
    flows: int = 0  # long-expired conversation states (a sign-up's number) cleared
    invites: int = 0  # invites nobody took: address erased

    @property
    def total(self) -> int:
        return self.inbound + self.outbox + self.code_attempts + self.strangers + self.flows + self.invites

    @property
    def most(self) -> int:
        """The largest batch: ``BATCH`` or more means there may be more to do."""
        return max(self.inbound, self.outbox, self.code_attempts, self.strangers, self.flows, self.invites)


def _delete_some(session: Session, model: Any, limit: int, *conditions: ColumnElement[bool]) -> int:
    """Delete at most ``limit`` rows of ``model`` that meet ``conditions``; how many went."""
    some = select(model.id).where(*conditions).limit(limit).scalar_subquery()
    statement = delete(model).where(model.id.in_(some)).execution_options(synchronize_session=False)
    return int(session.execute(statement).rowcount or 0)


def prune(session: Session, program_id: int, now: datetime, days: int, limit: int = BATCH) -> Pruned:
    """What is older than ``days``: delivery records and wrong-code records deleted, finished
    outbox rows erased; identities of people who never joined and were last seen before
    then deleted, flows that expired before then cleared, invites recorded before then and
    never taken erased. At most ``limit`` rows of each; call again while ``most`` reaches it."""
    cutoff = now - timedelta(days=days)
    result = Pruned()
    result.inbound = _delete_some(session, InboundMessage, limit, InboundMessage.program_id == program_id,
                                  InboundMessage.received_at < cutoff)
    result.code_attempts = _delete_some(session, CodeAttempt, limit, CodeAttempt.program_id == program_id,
                                        CodeAttempt.at < cutoff)
    outbox = (
        select(OutboxMessage.id)
        .where(OutboxMessage.program_id == program_id, OutboxMessage.created_at < cutoff,
               OutboxMessage.status.in_(FINISHED), OutboxMessage.address != ERASED)
        .limit(limit)
    )
    result.outbox = int(session.execute(_erase(outbox.scalar_subquery(), error=None)).rowcount or 0)
    # Someone who wrote but never joined: the chat address is all we hold, and nothing needs it.
    result.strangers = _delete_some(session, Identity, limit, Identity.program_id == program_id,
                                    Identity.member_id.is_(None), Identity.last_seen_at < cutoff)
    # A member's flow ended long ago (it is dropped when they next write anyway).
    flows = (select(Identity.id)
             .where(Identity.program_id == program_id, Identity.flow_expires_at < cutoff).limit(limit))
    result.flows = int(session.execute(
        update(Identity).where(Identity.id.in_(flows.scalar_subquery()))
        .values(flow=None, flow_data=None, flow_expires_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount or 0)
    result.invites = referrals.forget_stale_invites(session, program_id, cutoff, limit)
    return result
