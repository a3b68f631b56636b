"""``/chat``: a web page where anyone can talk to the bot as a customer (a demo surface).

The page posts what the customer types (or the payload of a button they press) to
``POST /chat/messages``, which takes the one road into the core (``Runtime.receive``):
deduped on the page's own message id, handled, replies queued in the outbox under channel
``web`` and address = the phone. It polls ``GET /chat/messages`` for the rows the sender has
sent, and shows a QR from ``GET /chat/qr/<outbox id>.png``.

The phone number typed on the page is not verified: whoever types a number acts as that
customer. That is what a trial page is for, and why production turns it off
(``LOYALTY_WEB_CHAT=off``; web/wsgi.py does unless it is set).
"""
from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

from flask import Blueprint, Flask, Response, abort, jsonify, render_template, request, url_for

from bot.messages import IncomingMessage
from channels import webchat
from rewards.errors import InvalidInput, LoyaltyError
from rewards.models import Program
from rewards.phones import parse_phone
from rewards.qr import qr_png
from web import json_body, providers
from web.runtime import UNAVAILABLE, SetupError, runtime

log = logging.getLogger("loyalty.chat")
bp = Blueprint("chat", __name__, url_prefix="/chat", template_folder="templates", static_folder="static")

MAX_BODY = 4096  # bytes: a phone, a line of text, an id
MAX_TEXT = 1000  # characters, as bot/handler.py reads at most
MAX_PAYLOAD = 200
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
# Cross-site request forgery: the page's script sends this header on every POST. A form on
# another site cannot set a header at all, and another site's script can only send one
# cross-origin after a CORS preflight that this app never grants; so a request carrying it
# came from our own page (or from something that is not a browser, which CSRF is not about).
# Sound for a JSON endpoint without cookies or sessions, and smaller than a token.
CSRF_HEADER = "X-Loyalty-Chat"
# Our own script and styles only: no CDN, nothing inline, no framing.
CSP = ("default-src 'self'; img-src 'self' https:; script-src 'self'; style-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


class ChatError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


@bp.errorhandler(ChatError)
def _chat_error(error: ChatError) -> Any:
    # The path without its query: the query holds a phone number.
    log.warning("chat: %s %s refused with %s %s", request.method, request.path, error.status, error.error)
    return jsonify(error=error.error, message=error.message), error.status


@bp.before_request
def _enabled() -> None:
    if not runtime().settings.web_chat:
        abort(404)


@bp.get("")
def page() -> Any:
    try:
        name = _read(lambda session, program_id: session.get(Program, program_id).name)
    except ChatError:
        name = "Loyalty bot"
    response = Response(render_template("chat.html", name=name), mimetype="text/html")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _phone(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 40:
        raise ChatError(400, "bad_phone", "give your phone number with its country code, like +15550001111")
    if value.strip().startswith("+"):
        region = None  # no need to know the program's country (nor to wait for its program)
    else:
        try:
            region = runtime().phone_region()
        except SetupError:
            raise ChatError(503, "not_ready", "no loyalty program is loaded: run `loyalty demo`") from None
        except UNAVAILABLE as error:
            raise _unavailable(error) from None
    try:
        return parse_phone(value, region)
    except InvalidInput as error:
        raise ChatError(400, "bad_phone", str(error)) from None


def _string(body: dict[str, Any], field: str, limit: int) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ChatError(400, "bad_field", f'"{field}" must be a string')
    if len(value) > limit:
        raise ChatError(413, "too_long", f'"{field}" is longer than {limit} characters')
    return value  # NUL and lone surrogates were refused as the body was read (web/json_body.py)


def _body() -> dict[str, Any]:
    if request.headers.get(CSRF_HEADER) != "1":
        raise ChatError(403, "csrf", f"send the {CSRF_HEADER}: 1 header (the /chat page does)")
    if (request.content_length or 0) > MAX_BODY:
        raise ChatError(413, "too_large", f"the body is over {MAX_BODY} bytes")
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY:
        raise ChatError(413, "too_large", f"the body is over {MAX_BODY} bytes")
    try:
        return json_body.read_object(raw)
    except json_body.BadJson as error:
        raise ChatError(400, "bad_field" if error.field else "bad_json", str(error)) from None


@bp.post("/messages")
def post_message() -> Any:
    body = _body()
    phone = _phone(body.get("phone"))
    text = (_string(body, "text", MAX_TEXT) or "").strip()
    payload = (_string(body, "payload", MAX_PAYLOAD) or "").strip() or None
    client_id = body.get("id")
    if client_id is not None and (not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id)):
        raise ChatError(400, "bad_id", '"id" must be 8 to 64 letters, digits, "-" or "_"')
    if not text and not payload:
        return jsonify(queued=0, duplicate=False, ignored=True)
    rt = runtime()
    program_id = _program_id()
    try:
        message = IncomingMessage(
            program_id=program_id, channel=webchat.NAME, address=phone, text=text or payload or "",
            # The page's id for this message: a double click or a retried POST has one effect.
            # Scoped to the phone, so one customer's ids never collide with another's; hashed,
            # so the delivery records (kept for the retention period) hold no phone number.
            provider_message_id=hashlib.sha256(f"{phone}:{client_id}".encode()).hexdigest() if client_id else None,
            phone=phone, payload=payload,
        )
        received = rt.receive(message, via=providers.webchat.receive)
    except UNAVAILABLE as error:
        raise _unavailable(error) from None
    except LoyaltyError as error:
        raise ChatError(422, error.reason, str(error)) from None
    return jsonify(queued=received.queued, duplicate=received.duplicate)


def _unavailable(error: Exception) -> ChatError:
    """503, and the page tries again: the program or schema is not ready, or the database
    does not answer or kept losing a race."""
    if isinstance(error, LoyaltyError):
        return ChatError(503, "not_ready", str(error))
    return ChatError(503, "database_unavailable", "the database is unavailable; try again shortly")


def _program_id() -> int:
    """The program's id, looked up once per process (Runtime.program_id), not per request."""
    try:
        return runtime().program_id()
    except SetupError:
        raise ChatError(503, "not_ready", "no loyalty program is loaded: run `loyalty demo`") from None
    except UNAVAILABLE as error:
        raise _unavailable(error) from None


def _read(look: Any) -> Any:
    """``look(session, program_id)`` in one short transaction."""
    program_id = _program_id()
    try:
        with runtime().transaction() as session:
            return look(session, program_id)
    except UNAVAILABLE as error:
        raise _unavailable(error) from None


@bp.get("/messages")
def get_messages() -> Any:
    phone = _phone(request.args.get("phone"))
    after_arg = request.args.get("after", "0")
    if not after_arg.isascii() or not after_arg.isdigit() or len(after_arg) > 18:
        raise ChatError(400, "bad_after", '"after" must be an outbox id (a whole number)')
    found = _read(lambda session, program_id: webchat.conversation(session, program_id, phone, int(after_arg)))
    for message in found.messages:
        has_qr, picture = message.pop("qr"), message.pop("picture")
        message["image"] = url_for("chat.qr_image", outbox_id=message["id"], phone=phone) if has_qr else picture
    response = jsonify(messages=found.messages, cursor=found.cursor, pending=found.pending, more=found.more)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/qr/<int:outbox_id>.png")
def qr_image(outbox_id: int) -> Any:
    """The QR of a sent web-chat message. The phone must match: nobody reads another
    chat's codes by counting ids."""
    phone = _phone(request.args.get("phone"))
    data = _read(lambda session, program_id: webchat.qr_data(session, program_id, phone, outbox_id))
    if data is None:
        raise ChatError(404, "not_found", "no QR code here for this phone number")
    response = Response(qr_png(data), mimetype="image/png")
    response.headers["Cache-Control"] = "private, no-store"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
