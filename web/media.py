"""Images a provider fetches by URL: ``GET /media/qr/<token>.png``, a QR code of the text
inside an encrypted, expiring token (WhatsApp media must be a public URL Twilio can fetch).

The token is a Fernet token (the ``cryptography`` package: AES-128-CBC with an HMAC-SHA256
and its time of issue) made with a key derived from SECRET_KEY, or without one from
TWILIO_AUTH_TOKEN, so web and worker processes that share the environment agree. The code
inside is encrypted, so a URL in an access log does not give away a redeemable code (and
logs mask the token anyway: web/redaction.py). A link lives MAX_AGE_SECONDS (ten minutes,
what Twilio needs to fetch it). A forged or damaged token, or one dated in the future, is
403; an expired one 404.
"""
from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from flask import Blueprint, Flask, Response, abort, current_app

from rewards.qr import qr_png
from web.settings import Settings

log = logging.getLogger(__name__)

bp = Blueprint("media", __name__, url_prefix="/media")
# Twilio fetches the image as it sends the message, seconds after we hand it over (the
# sender makes a fresh link for every try); after that the customer's phone has its own
# copy. The link is a bearer link to a redemption code, so it lives no longer than that.
MAX_AGE_SECONDS = 600
# A link is never dated after "now", but the process that made it (a worker) may run on
# another machine whose clock is a little ahead.
CLOCK_SKEW_SECONDS = 60
MAX_TEXT = 200  # codes are short; a long token is not one of ours


def signing_key(settings: Settings) -> str | None:
    if settings.secret_key:
        return settings.secret_key
    if settings.twilio_auth_token:
        return hashlib.sha256(b"loyalty media key:" + settings.twilio_auth_token.encode()).hexdigest()
    return None


def _fernet(settings: Settings) -> Fernet | None:
    key = signing_key(settings)
    if key is None:
        return None
    # Fernet wants 32 random-looking bytes; this purpose gets its own, derived from the key.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"loyalty media token:" + key.encode()).digest()))


def qr_url_maker(settings: Settings, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Callable[[str], str]:
    """``text -> URL`` of its QR image under PUBLIC_BASE_URL, for the WhatsApp adapter."""
    fernet = _fernet(settings)
    if fernet is None or not settings.public_base_url:
        raise ValueError("QR media URLs need PUBLIC_BASE_URL and SECRET_KEY or TWILIO_AUTH_TOKEN")
    base = settings.public_base_url

    def qr_url(text: str) -> str:
        token = fernet.encrypt_at_time(text.encode(), int(clock().timestamp())).decode()
        return f"{base}/media/qr/{token}.png"

    return qr_url


@bp.get("/qr/<token>.png")
def qr(token: str) -> Any:
    rt = current_app.extensions["loyalty"]  # web.app's Runtime (not imported: web.app wires this module)
    fernet = _fernet(rt.settings)
    if fernet is None or len(token) > 4 * MAX_TEXT:
        abort(404)
    now = int(rt.clock().timestamp())  # the runtime's clock, so tests need no sleeping
    try:
        issued = fernet.extract_timestamp(token.encode())  # checks the token's HMAC first
        text = fernet.decrypt(token.encode()).decode()  # no ttl: its age is judged below, on our clock
    except (InvalidToken, UnicodeDecodeError):
        log.warning("media: refused a QR token that is not one of ours")
        abort(403)
    if issued > now + CLOCK_SKEW_SECONDS:
        log.warning("media: refused a QR token dated %d s in the future", issued - now)
        abort(403)
    if now - issued > MAX_AGE_SECONDS:
        abort(404)
    if not text or len(text) > MAX_TEXT:
        abort(404)
    response = Response(qr_png(text), mimetype="image/png")
    # It shows a redemption code: nobody between us and Twilio should keep a copy.
    response.headers["Cache-Control"] = "private, no-store"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
