"""WhatsApp and SMS through Twilio, all the app knows of them: what turns each on, their
adapters for the sender (channels/twilio.py), the carrier keywords answered before the core
(``receive``), and the webhooks ``POST /webhooks/whatsapp``, ``/webhooks/sms`` (a customer's
message) and ``/webhooks/twilio/status`` (delivery status of what we sent).

Each request is checked in this order: the channel is on (else 404), the body is small
(413), the X-Twilio-Signature matches PUBLIC_BASE_URL + path (+ query) and the form, as
Twilio signed it (403: the URL Twilio called, not the one a proxy passed on), the fields
are what Twilio posts (400). Only then is anything stored. Replies go through the outbox
and the REST API, so the answer is always an empty TwiML ``<Response/>``.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, abort, request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import carrier
from bot.i18n import translator
from bot.messages import IncomingMessage, Reply
from bot.outbox_payload import to_payload
from bot.turn import BotSettings
from channels import twilio, twilio_inbound
from channels.sender import Adapter
from channels.twilio import CARRIER_STOP_REASON, CHANNELS, OPTED_OUT, SMS, WHATSAPP
from rewards import inbound, members, outbox
from rewards.errors import Inconsistent, LoyaltyError
from rewards.models import Identity, Program
from rewards.phones import mask
from rewards.program.programs import config_of
from rewards.storage.db import make_engine, session_factory
from web.inbox import Received
from web.inbox import receive as receive_in_core
from web.media import qr_url_maker
from web.providers.base import ChannelStatus
from web.runtime import UNAVAILABLE, Runtime, runtime
from web.settings import Settings

log = logging.getLogger(__name__)

bp = Blueprint("twilio_webhooks", __name__, url_prefix="/webhooks")
MAX_BODY = 64 * 1024  # Twilio posts a few KB at most
# The words Twilio's default opt-out handling answers on SMS long codes by itself.
TWILIO_ANSWERS_ON_SMS = frozenset({
    "stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke", "start", "yes", "unstop",
})
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def _twiml() -> Response:
    return Response(EMPTY_TWIML, status=200, mimetype="text/xml")


def _refuse(status: int, why: str) -> Response:
    log.warning("twilio webhook %s refused (%d): %s", request.path, status, why)
    return Response(why + "\n", status=status, mimetype="text/plain")


def _unavailable(error: Exception) -> Response:
    """Not ready, or the database is unreachable or kept losing a race: 503, which Twilio
    counts as a failed delivery (its fallback URL, if set, is called; the customer may
    write again), never a 500 with a trace."""
    return _refuse(503, str(error) if isinstance(error, LoyaltyError) else
                   f"the database is unavailable ({type(getattr(error, 'orig', error)).__name__}); try again")


def _signed_form(rt: Runtime) -> Any:
    """The posted form, once its signature is right; a Response to return otherwise."""
    request.max_content_length = MAX_BODY
    form = request.form  # raises 413 over MAX_BODY
    settings = rt.settings
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return _refuse(403, "no X-Twilio-Signature")
    url = f"{settings.public_base_url}{request.path}"
    if request.query_string:
        url += "?" + request.query_string.decode("latin-1")
    if not twilio_inbound.valid_signature(settings.twilio_auth_token or "", url, form, signature):
        return _refuse(403, "wrong X-Twilio-Signature (signed URL must be PUBLIC_BASE_URL + path)")
    return form


def _inbound(channel: str) -> Response:
    rt = runtime()
    if channel not in rt.enabled_channels:
        abort(404)
    form = _signed_form(rt)
    if isinstance(form, Response):
        return form
    try:
        parsed = twilio_inbound.parse(channel, form)
    except twilio_inbound.BadForm as error:
        return _refuse(400, str(error))
    try:  # the program's id is a query on a fresh worker: the database may fail here too
        message = IncomingMessage(rt.program_id(), channel, parsed.phone, parsed.text, parsed.sid, phone=parsed.phone)
        received = rt.receive(message, via=functools.partial(
            receive, twilio_answered=parsed.opt_out_type is not None,
        ))
    except UNAVAILABLE as error:
        return _unavailable(error)
    if received.duplicate:
        log.info("%s %s from %s: a redelivery, already handled", channel, parsed.sid, mask(parsed.phone))
    return _twiml()


@bp.post("/whatsapp")
def whatsapp() -> Response:
    return _inbound(WHATSAPP)


@bp.post("/sms")
def sms() -> Response:
    return _inbound(SMS)


@bp.post("/twilio/status")
def status() -> Response:
    rt = runtime()
    if not set(CHANNELS) & set(rt.enabled_channels):
        abort(404)
    form = _signed_form(rt)
    if isinstance(form, Response):
        return form
    try:
        update = twilio_inbound.parse_status(form)
    except twilio_inbound.BadForm as error:
        return _refuse(400, str(error))
    try:
        with rt.transaction() as session:
            known = twilio_inbound.record_status(session, update, rt.clock())
    except UNAVAILABLE as error:
        return _unavailable(error)
    if not known:
        log.info("twilio status %s for %s: no such message here; ignored", update.status, update.sid)
    return _twiml()


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


# --- what turns WhatsApp and SMS on, and their adapters ----------------------------------


def statuses(settings: Settings) -> list[ChannelStatus]:
    s = settings
    missing_account = [name for name, value in (
        ("TWILIO_ACCOUNT_SID", s.twilio_account_sid), ("TWILIO_AUTH_TOKEN", s.twilio_auth_token),
    ) if not value]
    out = []
    for channel, sender_setting, sender in (
        (WHATSAPP, "TWILIO_WHATSAPP_FROM", s.twilio_whatsapp_from), (SMS, "TWILIO_SMS_FROM", s.twilio_sms_from),
    ):
        missing = missing_account + ([] if sender else [sender_setting])
        if not s.public_base_url:
            missing.append("PUBLIC_BASE_URL")
        unusable = s.why_unusable("TWILIO_ACCOUNT_SID")
        if unusable:
            out.append(ChannelStatus(channel, False, unusable))
        elif missing:
            out.append(ChannelStatus(channel, False, "set " + ", ".join(missing) + " to turn it on"))
        else:
            out.append(ChannelStatus(channel, True, f"webhook POST /webhooks/{channel}"))
    return out


def adapters(
    settings: Settings, sessions: sessionmaker[Session] | None = None, clock: Callable[[], datetime] | None = None,
) -> dict[str, Adapter]:
    """One REST client for both senders."""
    on = [status.name for status in statuses(settings) if status.on]
    if not on:
        return {}
    if not (settings.twilio_account_sid and settings.twilio_auth_token and settings.public_base_url):
        raise ValueError("WhatsApp and SMS need TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL")
    client = twilio.make_client(settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_base_url)
    sessions = sessions or session_factory(
        make_engine(settings.database_url, prepared_through_session=settings.sql_through_orm))
    clock = clock or (lambda: datetime.now(UTC))
    senders = {WHATSAPP: settings.twilio_whatsapp_from, SMS: settings.twilio_sms_from}
    return {name: twilio.TwilioAdapter(
        client, name, senders[name] or "",
        contact=twilio_contacts(sessions, name),
        status_callback=settings.public_base_url + twilio.STATUS_PATH,
        media_url=qr_url_maker(settings, clock) if name == WHATSAPP else None,
        clock=clock,
    ) for name in on}


def twilio_contacts(sessions: sessionmaker[Session], channel: str) -> Callable[[str], twilio.Contact | None]:
    """``address -> Contact`` for a Twilio adapter: a short read at send time, so a STOP or a
    message that came in a moment ago counts. An address known to several programs is
    read as the one that wrote last (one Twilio sender serves one program)."""

    def contact(address: str) -> twilio.Contact | None:
        with sessions() as session:
            identity = session.scalars(
                select(Identity).where(Identity.channel == channel, Identity.address == address)
                .order_by(Identity.last_seen_at.desc()).limit(1)
            ).first()
            if identity is None:
                return None
            program = session.get(Program, identity.program_id)
            template = config_of(program).whatsapp.notice_template_sid if program is not None else None
            return twilio.Contact(identity.last_seen_at, identity.stopped_at is not None, template)

    return contact


# --- messages in: carrier keywords first -----------------------------------------------------


def receive(
    session: Session, message: IncomingMessage, now: datetime, channels: Collection[str],
    settings: BotSettings | None = None, *, twilio_answered: bool = False,
) -> Received:
    """``web.inbox.receive`` with carrier keywords first (see channels/twilio_inbound.py). ``twilio_answered``: Twilio's
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
    if program is None:
        raise Inconsistent("program is missing")
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
