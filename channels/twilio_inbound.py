"""WhatsApp and SMS through Twilio: the input side (channels/twilio.py sends).

I/O-free: ``valid_signature`` checks X-Twilio-Signature with the SDK's RequestValidator,
``parse`` and ``parse_status`` read the form fields Twilio posts, ``receive`` and
``record_status`` run in the caller's transaction. The web layer hands them the request.

Carrier keywords (bot/carrier.py), decided the way Twilio and the carriers behave:
- STOP (and STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, OPTOUT, REVOKE, BAJA, ...) records
  ``identities.stopped_at``: no notices or promotions go to that number until START, and
  what was queued for it is skipped. Writing again does not undo it (only START does).
- After STOP, on SMS nothing at all is sent (Twilio itself refuses with error 21610 until
  START), so other messages are recorded and not answered. On WhatsApp the customer's own
  questions are still answered: they asked, and WhatsApp allows replies to what they write.
- Confirmations: Twilio answers its own English keywords on SMS (default opt-out handling)
  and every keyword when Advanced Opt-Out is on (the webhook then carries OptOutType); we
  confirm only what Twilio did not, so nobody gets two confirmations. On WhatsApp without
  Advanced Opt-Out that means we confirm STOP and START once each.
- START resumes a stopped number; when not stopped, "START" and "YES" go to the core as
  usual (YES answers the join question).
- HELP always gets the program's own HELP text (brand, frequency, rates, how to stop) unless
  Advanced Opt-Out already answered it, or the number is stopped on SMS (Twilio would
  refuse it).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from bot import carrier
from bot.i18n import translator
from bot.messages import IncomingMessage, Reply
from bot.outbox_payload import to_payload
from bot.turn import BotSettings
from channels.inbox import Received
from channels.inbox import receive as receive_in_core
from channels.twilio import CARRIER_STOP_REASON, CHANNELS, OPTED_OUT, SMS, WHATSAPP
from rewards import inbound, members, outbox
from rewards.errors import InvalidInput
from rewards.inputs import ascii_digits
from rewards.models import Identity, OutboxMessage, Program
from rewards.phones import mask, parse_phone
from rewards.program.programs import config_of

log = logging.getLogger(__name__)

MAX_TEXT = 5000  # Twilio delivers at most 1,600 characters; more is not Twilio
_SID = re.compile(r"^[A-Za-z0-9_-]{2,64}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The words Twilio's default opt-out handling answers on SMS long codes by itself.
TWILIO_ANSWERS_ON_SMS = frozenset({
    "stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke", "start", "yes", "unstop",
})
# Delivery statuses in the order they happen; a late callback never moves a row back.
_STATUS_RANK = {
    "accepted": 0, "scheduled": 0, "queued": 1, "sending": 2, "sent": 3, "receiving": 3, "received": 3,
    "delivered": 4, "undelivered": 4, "failed": 4, "canceled": 4, "partially_delivered": 4, "read": 5,
}
# Delivery error codes that mean the number cannot be reached (until the customer writes).
DEAD_ON_DELIVERY = {
    21211: "invalid number", 21610: CARRIER_STOP_REASON.removeprefix("twilio 21610: "), 21614: "not a mobile number",
    30003: "unreachable handset", 30004: "message blocked by the recipient", 30005: "unknown handset",
    30006: "landline or unreachable carrier", 63003: "not a WhatsApp number", 63024: "invalid message recipient",
}


class BadForm(ValueError):
    """What Twilio posted is not what Twilio posts (a 400, nothing stored)."""


@dataclass(frozen=True, slots=True)
class Inbound:
    channel: str
    phone: str  # the sender, E.164 (also the address replies go to)
    text: str
    sid: str
    # Twilio's Advanced Opt-Out recognised a keyword (STOP, START, HELP) and answered it.
    opt_out_type: str | None = None


@dataclass(frozen=True, slots=True)
class Status:
    sid: str
    status: str
    channel: str | None  # None when neither From nor To tells
    error_code: int | None


def valid_signature(auth_token: str, url: str, form: Mapping[str, str], signature: str) -> bool:
    """Whether ``signature`` is Twilio's for ``url`` (the URL Twilio was given: PUBLIC_BASE_URL
    + path + query, never the one a proxy passed on) and these form fields."""
    return bool(signature and auth_token) and RequestValidator(auth_token).validate(url, form, signature)


def _field(form: Mapping[str, str], name: str, required: bool = True, limit: int = 256) -> str | None:
    value = form.get(name)
    if value is None or (required and not value.strip()):
        if required:
            raise BadForm(f"{name} is missing")
        return None
    if len(value) > limit:
        raise BadForm(f"{name} is longer than {limit} characters")
    return value


def _sid(form: Mapping[str, str]) -> str:
    sid = _field(form, "MessageSid") or ""
    if not _SID.match(sid):
        raise BadForm("MessageSid is not a Twilio message SID")
    return sid


def parse(channel: str, form: Mapping[str, str]) -> Inbound:
    """A customer's message as Twilio posts it to /webhooks/<channel>."""
    if channel not in CHANNELS:
        raise ValueError(channel)
    sid = _sid(form)
    sender = _field(form, "From") or ""
    _field(form, "To")
    if (channel == WHATSAPP) != sender.startswith("whatsapp:"):
        raise BadForm(f"From is not a {channel} address")
    try:
        phone = parse_phone(sender)
    except InvalidInput:
        raise BadForm("From is not a phone number") from None
    text = _field(form, "Body", required=False, limit=MAX_TEXT) or ""
    media = _field(form, "NumMedia", required=False, limit=3)
    if media is not None and not (ascii_digits(media) and int(media) <= 10):
        raise BadForm("NumMedia is not a number from 0 to 10")
    opt_out = _field(form, "OptOutType", required=False, limit=20)
    return Inbound(channel, phone, _CONTROL.sub("", text), sid, opt_out.upper() if opt_out else None)


def parse_status(form: Mapping[str, str]) -> Status:
    """A delivery status callback (POST /webhooks/twilio/status)."""
    sid = _sid(form)
    status = (_field(form, "MessageStatus") or "").strip().lower()
    if not re.fullmatch(r"[a-z_]{2,20}", status):
        raise BadForm("MessageStatus is not a status")
    raw_code = (_field(form, "ErrorCode", required=False, limit=10) or "").strip()
    if raw_code and not ascii_digits(raw_code):  # "²".isdigit(), yet int("²") fails
        raise BadForm("ErrorCode is not a number")
    ends = [_field(form, name, required=False) or "" for name in ("To", "From")]
    channel = WHATSAPP if any(e.startswith("whatsapp:") for e in ends) else SMS if any(ends) else None
    return Status(sid, status, channel, int(raw_code) if raw_code else None)


# --- messages in ---------------------------------------------------------------------------


def receive(
    session: Session, message: IncomingMessage, now: datetime, channels: Collection[str],
    settings: BotSettings | None = None, *, twilio_answered: bool = False,
) -> Received:
    """``channels.inbox.receive`` with carrier keywords first. ``twilio_answered``: Twilio's
    Advanced Opt-Out recognised this message as a keyword and replied to it already."""
    keyword = carrier.keyword(message.text)
    where = (Identity.program_id == message.program_id, Identity.channel == message.channel,
             Identity.address == message.address)
    # Two columns, not the ORM object: most messages only need to know they are not a STOP.
    state = session.execute(select(Identity.unreachable_reason, Identity.stopped_at).where(*where)).first()
    stopped = state is not None and state.stopped_at is not None
    if state is not None and state.unreachable_reason == CARRIER_STOP_REASON:
        # Twilio refused a send with 21610: they sent STOP where we did not see it (our
        # webhook was down, say). Keep it as a STOP, before writing to us clears "unreachable".
        identity = session.scalars(select(Identity).where(*where)).one()
        members.stop_messages(identity, identity.unreachable_at or now)
        stopped = True
    if keyword is None or (keyword.name == carrier.START and not stopped):
        if not (stopped and message.channel == SMS):
            return receive_in_core(session, message, now, channels, settings)
    if message.provider_message_id is not None and not inbound.first_delivery(
        session, message.program_id, message.channel, message.provider_message_id, now
    ):
        return Received(duplicate=True, queued=0)
    identity = members.get_identity(session, message.program_id, message.channel, message.address, now)
    if keyword is None:
        log.info("sms from %s not answered: the number sent STOP (START resumes)", mask(message.address))
        return Received(duplicate=False, queued=0)
    answered = twilio_answered or (message.channel == SMS and keyword.word in TWILIO_ANSWERS_ON_SMS)
    reply: Reply | None = None
    program = session.get(Program, message.program_id)
    assert program is not None
    t = translator(_language(identity, keyword, program))
    if keyword.name == carrier.STOP:
        if members.stop_messages(identity, now):
            skipped = outbox.skip_queued(session, message.program_id, message.channel, message.address, OPTED_OUT)
            log.info("%s %s sent STOP: %d queued skipped", message.channel, mask(message.address), skipped)
            reply = None if answered else carrier.stopped_reply(t, program.name)
    elif keyword.name == carrier.START:
        members.resume_messages(identity)
        log.info("%s %s sent START", message.channel, mask(message.address))
        reply = None if answered else carrier.resumed_reply(t, program.name)
    elif keyword.name == carrier.HELP and not twilio_answered and not (stopped and message.channel == SMS):
        reply = carrier.help_reply(t, program.name, config_of(program).promotions.max_per_member_per_week)
    if reply is None:
        return Received(duplicate=False, queued=0)
    outbox.enqueue(session, message.program_id, message.channel, message.address, to_payload(reply), "reply", now,
                   member_id=identity.member_id)
    return Received(duplicate=False, queued=1)


def _language(identity: Identity, keyword: carrier.Keyword, program: Program) -> str:
    if identity.member is not None:
        return identity.member.language
    config = config_of(program)
    for lang in (identity.language, keyword.language):
        if lang in config.languages:
            return lang
    return config.default_language


# --- delivery status -----------------------------------------------------------------------


def record_status(session: Session, status: Status, now: datetime) -> bool:
    """Record a delivery status on the outbox row that message went out as. False when no
    row has that SID (not ours, or a later part of a long text): ignored. A callback that
    arrives late (sent after delivered) or twice changes nothing."""
    channels = [status.channel] if status.channel else list(CHANNELS)
    row = session.scalars(
        select(OutboxMessage).where(OutboxMessage.channel.in_(channels), OutboxMessage.provider_message_id == status.sid)
    ).first()
    if row is None:
        return False
    rank = _STATUS_RANK.get(status.status, 3)
    if row.delivery_status is not None and rank < _STATUS_RANK.get(row.delivery_status, 3):
        return True
    error = f"twilio {status.error_code}: {status.status}" if status.error_code else None
    outbox.record_delivery_status(session, row.channel, status.sid, status.status, now, error)
    dead = DEAD_ON_DELIVERY.get(status.error_code or 0)
    if dead is not None and status.status in ("undelivered", "failed"):
        reason = CARRIER_STOP_REASON if status.error_code == 21610 else f"twilio {status.error_code}: {dead}"
        members.mark_unreachable(session, row.program_id, row.channel, row.address, reason, now)
        outbox.skip_queued(session, row.program_id, row.channel, row.address, f"unreachable: {reason}")
        log.info("%s %s unreachable: %s", row.channel, mask(row.address), reason)
    return True
