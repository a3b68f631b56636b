"""Images a provider fetches by URL: ``GET /media/qr/<token>.png``, a QR code of the text
inside a signed, expiring token (WhatsApp media must be a public URL Twilio can fetch).

The token is signed (itsdangerous) with SECRET_KEY, or without one with a key derived from
TWILIO_AUTH_TOKEN, so web and worker processes that share the environment agree. The code
inside is also masked with a keystream from that key (HMAC-SHA256 in counter mode), so a
URL in an access log does not give away a redeemable code. A forged token is 403, an
expired one 404.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from rewards.qr import qr_png
from web.settings import Settings

log = logging.getLogger(__name__)

bp = Blueprint("media", __name__, url_prefix="/media")
SALT = "loyalty.media.qr"
# Twilio fetches the image as it sends the message, and retries a send for minutes, not
# hours; after that the customer's phone has its own copy.
MAX_AGE_SECONDS = 3600
MAX_TEXT = 200  # codes are short; a long token is not one of ours


def signing_key(settings: Settings) -> str | None:
    if settings.secret_key:
        return settings.secret_key
    if settings.twilio_auth_token:
        return hashlib.sha256(b"loyalty media key:" + settings.twilio_auth_token.encode()).hexdigest()
    return None


def _keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = (hmac.new(key, nonce + i.to_bytes(4, "big"), hashlib.sha256).digest() for i in range(length // 32 + 1))
    return b"".join(blocks)[:length]


def _mask_key(key: str) -> bytes:
    return hmac.new(key.encode(), b"loyalty media mask", hashlib.sha256).digest()


def _seal(key: str, text: str) -> str:
    nonce, data = os.urandom(12), text.encode()
    masked = bytes(a ^ b for a, b in zip(data, _keystream(_mask_key(key), nonce, len(data)), strict=True))
    return base64.urlsafe_b64encode(nonce + masked).decode().rstrip("=")


def _unseal(key: str, sealed: str) -> str:
    raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    nonce, masked = raw[:12], raw[12:]
    return bytes(a ^ b for a, b in zip(masked, _keystream(_mask_key(key), nonce, len(masked)), strict=True)).decode()


def _serializer(settings: Settings, clock: Callable[[], datetime]) -> URLSafeTimedSerializer | None:
    key = signing_key(settings)
    if key is None:
        return None

    class ClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:  # the runtime's clock, so tests need no sleeping
            return int(clock().timestamp())

    return URLSafeTimedSerializer(key, salt=SALT, signer=ClockSigner)


def qr_url_maker(settings: Settings, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Callable[[str], str]:
    """``text -> URL`` of its QR image under PUBLIC_BASE_URL, for the WhatsApp adapter."""
    serializer = _serializer(settings, clock)
    if serializer is None or not settings.public_base_url:
        raise ValueError("QR media URLs need PUBLIC_BASE_URL and SECRET_KEY or TWILIO_AUTH_TOKEN")
    base, key = settings.public_base_url, signing_key(settings) or ""

    def qr_url(text: str) -> str:
        return f"{base}/media/qr/{serializer.dumps(_seal(key, text))}.png"

    return qr_url


@bp.get("/qr/<token>.png")
def qr(token: str) -> Any:
    rt = current_app.extensions["loyalty"]  # web.app's Runtime (not imported: web.app wires this module)
    serializer = _serializer(rt.settings, rt.clock)
    if serializer is None or len(token) > 4 * MAX_TEXT:
        abort(404)
    try:
        sealed = serializer.loads(token, max_age=MAX_AGE_SECONDS)
    except SignatureExpired:
        abort(404)
    except BadSignature:
        log.warning("media: refused a QR token with a bad signature")
        abort(403)
    try:
        text = _unseal(signing_key(rt.settings) or "", sealed) if isinstance(sealed, str) else ""
    except (ValueError, UnicodeDecodeError):  # signed by us, so only if the key changed mid-way
        text = ""
    if not text or len(text) > MAX_TEXT:
        abort(404)
    response = Response(qr_png(text), mimetype="image/png")
    # It shows a redemption code: nobody between us and Twilio should keep a copy.
    response.headers["Cache-Control"] = "private, no-store"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
