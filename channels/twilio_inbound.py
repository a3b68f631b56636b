"""WhatsApp and SMS through Twilio: the input side (channels/twilio.py sends).

I/O-free: ``valid_signature`` checks X-Twilio-Signature with the SDK's RequestValidator,
``parse`` and ``parse_status`` read the form fields Twilio posts, ``record_status`` runs in
the caller's transaction. The web layer hands them the request and answers carrier keywords
(web/providers/twilio.py ``receive``).

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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from channels.twilio import CARRIER_STOP_REASON, CHANNELS, SMS, WHATSAPP
from rewards import members, outbox
from rewards.errors import InvalidInput
from rewards.inputs import ascii_digits
from rewards.models import OutboxMessage
from rewards.phones import mask, parse_phone

log = logging.getLogger(__name__)

MAX_TEXT = 5000  # Twilio delivers at most 1,600 characters; more is not Twilio
_SID = re.compile(r"^[A-Za-z0-9_-]{2,64}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
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
