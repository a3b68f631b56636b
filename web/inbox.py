"""Messages in, outbox rows out: step 2 of the road of a message (docs/architecture.md).

``receive`` runs in the caller's transaction: it records the provider's delivery id (a
redelivery stops there), lets the conversational core answer, and queues every reply and
every notice for other members in the outbox. Nothing is sent here; the sender does that
after the transaction commits. ``notify`` queues notices from the domain (a purchase at the
till) for each member on the channel they last wrote from.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot import quick
from bot.handler import respond
from bot.messages import IncomingMessage
from bot.notices import for_events
from bot.outbox_payload import to_payload
from bot.turn import BotSettings
from rewards import inbound, members, outbox
from rewards.events import Event


@dataclass(frozen=True, slots=True)
class Received:
    duplicate: bool  # the provider delivered this before: nothing was done
    queued: int  # outbox rows written


def receive(
    session: Session, message: IncomingMessage, now: datetime, channels: Collection[str],
    settings: BotSettings | None = None, said: str | None = None,
) -> Received:
    """Handle one incoming message. ``channels`` are the channels that can deliver now (for
    notices to other members). ``said``: the customer's words, kept in the first reply's
    payload for a channel that draws the conversation again from the outbox (the web chat);
    they are erased with that reply."""
    if message.provider_message_id is not None and not inbound.first_delivery(
        session, message.program_id, message.channel, message.provider_message_id, now
    ):
        return Received(duplicate=True, queued=0)
    handled = quick.answer(session, message, now) or respond(session, message, now, settings)
    queued = 0
    for index, reply in enumerate(handled.replies):
        payload = to_payload(reply)
        if index == 0 and said:
            payload["said"] = said
        outbox.enqueue(
            session, message.program_id, message.channel, message.address, payload, reply.kind, now,
            member_id=handled.member_id, ephemeral=reply.ephemeral,
        )
        queued += 1
    queued += notify(session, handled.others, now, channels)
    return Received(duplicate=False, queued=queued)


def notify(session: Session, events: list[Event], now: datetime, channels: Collection[str]) -> int:
    """Queue each event's message for its member on the channel they last wrote from (among
    ``channels``, skipping unreachable addresses). Returns how many were queued; a member with
    nowhere to be told is left out (they see it next time they ask)."""
    queued = 0
    for member, reply in for_events(session, events):
        identity = members.notice_identity(session, member, channels)
        if identity is None:
            continue
        outbox.enqueue(
            session, member.program_id, identity.channel, identity.address, to_payload(reply), "notice", now,
            member_id=member.id,
        )
        queued += 1
    return queued
