"""Enrolment at the till: a cashier types a customer's phone number, and the customer gets
one message asking whether they want to join. Only their own "yes" makes them a member.

Nothing here creates a member. ``address_for`` finds (or makes) the customer's identity on
a channel whose address is the phone number, so the question can go there and their answer
comes back to the same identity; the bot opens its ordinary sign-up question on it
(bot/invitation.py) and the answer goes through ``members.join`` like any sign-up.

Which channel: WhatsApp only where the customer has written from that number before and a
message can still reach them (inside WhatsApp's 24-hour window, or the program has an
approved notice template); otherwise SMS; the /chat demo page last. A number that sent STOP
on a channel gets nothing there.
"""
from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rewards import members
from rewards.errors import Refused
from rewards.models import Identity
from rewards.promotions.eligibility import WHATSAPP_WINDOW

WHATSAPP, SMS, WEB = "whatsapp", "sms", "web"
PHONE_CHANNELS = (WHATSAPP, SMS, WEB)  # channels whose address is the E.164 phone, in the order tried


def _identity(session: Session, program_id: int, channel: str, phone: str) -> Identity | None:
    return session.scalar(select(Identity).where(
        Identity.program_id == program_id, Identity.channel == channel, Identity.address == phone))


def _usable(identity: Identity | None) -> bool:
    return identity is None or (identity.stopped_at is None and identity.unreachable_at is None)


def address_for(
    session: Session, program_id: int, phone: str, channels: Collection[str], now: datetime,
    *, whatsapp_template: bool = False,
) -> Identity:
    """The identity to ask ``phone`` on, among ``channels`` (those that can deliver now);
    created on SMS or the demo chat when the number never wrote there. Refused with reason
    ``already_member`` (the number belongs to a member), ``stopped`` (it asked for no
    messages where we could reach it) or ``no_channel``."""
    if members.by_phone(session, program_id, phone) is not None:
        raise Refused("this phone number already belongs to a member", reason="already_member")
    stopped = False
    for channel in PHONE_CHANNELS:
        if channel not in channels:
            continue
        identity = _identity(session, program_id, channel, phone)
        if not _usable(identity):
            stopped = True
            continue
        if identity is not None and identity.member_id is not None:
            raise Refused("this phone number already belongs to a member", reason="already_member")
        if channel == WHATSAPP:
            # A first message on WhatsApp must be a template, and goes only where the number
            # is known to be on WhatsApp: the customer wrote from it before.
            recent = identity is not None and identity.last_seen_at > now - WHATSAPP_WINDOW
            if identity is None or not (recent or whatsapp_template):
                continue
            return identity
        if identity is None:
            # Not "seen": they have not written; the row holds the question for their answer
            # and is deleted with other strangers' after the retention period (rewards/erasure.py).
            identity = Identity(program_id=program_id, channel=channel, address=phone, first_seen_at=now,
                                last_seen_at=now)
            try:
                with session.begin_nested():
                    session.add(identity)
            except IntegrityError:  # a second till asked for the same number at the same moment
                identity = _identity(session, program_id, channel, phone)
                if identity is None:
                    raise
        return identity
    if stopped:
        raise Refused("this number asked for no messages", reason="stopped")
    raise Refused("no channel can send a message to this number", reason="no_channel")
