"""Telling a member something the clock decided: once per dedupe key, on the channel they
last wrote from, after quiet hours in their own time (these are not answers to anything)."""
from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.i18n import translator
from bot.notices import render
from bot.outbox_payload import to_payload
from rewards import members, outbox
from rewards.events import Event
from rewards.localtime import quiet_hours_end
from rewards.models import Identity, Member, OutboxMessage
from rewards.program.config import ProgramConfig


def sent_keys(session: Session, program_id: int, keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` are queued already (the UNIQUE(program_id, dedupe_key) index answers),
    so a chunk skips members told before without looking up their channels."""
    keys = list(keys)
    if not keys:
        return set()
    return set(session.scalars(
        select(OutboxMessage.dedupe_key).where(OutboxMessage.program_id == program_id, OutboxMessage.dedupe_key.in_(keys))
    ))


def deliver_at(config: ProgramConfig, member: Member, now: datetime) -> datetime:
    """Now, or when quiet hours end where the member lives."""
    return quiet_hours_end(now, member.timezone or config.timezone, config.quiet_hours) or now


def tell(session: Session, config: ProgramConfig, member: Member, event: Event, key: str, now: datetime,
         channels: Collection[str], *, promotional: bool = False) -> Identity | None:
    """Queue ``event``'s message for ``member`` unless ``key`` was queued before. Returns the
    identity it went to, or None (told already, deleted, or nowhere to reach them; a
    ``promotional`` message also skips members who said no to promotions)."""
    if member.deleted_at is not None or (promotional and not member.marketing_consent):
        return None
    identity = members.notice_identity(session, member, channels)
    if identity is None or (promotional and identity.marketing_opt_out):
        return None
    reply = render(event, translator(member.language))
    queued = outbox.enqueue(session, member.program_id, identity.channel, identity.address, to_payload(reply), "notice",
                         now, member_id=member.id, dedupe_key=key, available_at=deliver_at(config, member, now))
    return identity if queued is not None else None
