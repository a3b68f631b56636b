"""Twilio's webhooks: ``POST /webhooks/whatsapp``, ``/webhooks/sms`` (a customer's message)
and ``/webhooks/twilio/status`` (delivery status of what we sent).

Each request is checked in this order: the channel is on (else 404), the body is small
(413), the X-Twilio-Signature matches PUBLIC_BASE_URL + path (+ query) and the form, as
Twilio signed it (403: the URL Twilio called, not the one a proxy passed on), the fields
are what Twilio posts (400). Only then is anything stored. Replies go through the outbox
and the REST API, so the answer is always an empty TwiML ``<Response/>``.
"""
from __future__ import annotations

import functools
import logging
from typing import Any

from flask import Blueprint, Flask, Response, abort, request

from bot.messages import IncomingMessage
from channels import twilio_inbound
from channels.twilio import CHANNELS, SMS, WHATSAPP
from rewards.errors import LoyaltyError
from rewards.phones import mask
from web.runtime import UNAVAILABLE, Runtime, runtime

log = logging.getLogger(__name__)

bp = Blueprint("twilio_webhooks", __name__, url_prefix="/webhooks")
MAX_BODY = 64 * 1024  # Twilio posts a few KB at most
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
            twilio_inbound.receive, twilio_answered=parsed.opt_out_type is not None,
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
