"""Telegram, all the app knows of it: what turns it on, its adapter for the sender
(channels/telegram.py), and ``POST /webhooks/telegram``, checked, read and handed to the core.

The order matters: a channel that is off is 404; a wrong or missing secret token is 403
before the body is even read; then a body over MAX_CONTENT_LENGTH is 413, one that is not
an update is 400, an update the bot does not answer is 200 and ignored. Only then does the
update take the one road in (``Runtime.receive``: dedupe, core, outbox in one transaction).
Bad input never reaches the database and never makes a 500. Logs name the update and the
chat, never the token, the secret or a whole phone number.
"""
from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import RequestEntityTooLarge

from channels import telegram
from channels.sender import Adapter
from rewards.errors import LoyaltyError
from rewards.phones import mask
from web import json_body
from web.providers.base import ChannelStatus
from web.runtime import UNAVAILABLE, Runtime, SetupError, runtime
from web.settings import Settings

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
NAME_RETRY_SECONDS = 60.0
NAME_TIMEOUT_SECONDS = 3.0

bp = Blueprint("telegram_webhook", __name__)
log = logging.getLogger("loyalty.telegram")


def statuses(settings: Settings) -> list[ChannelStatus]:
    if not settings.telegram_bot_token:
        return [ChannelStatus(telegram.NAME, False, settings.why_unusable("TELEGRAM_BOT_TOKEN")
                              or "set TELEGRAM_BOT_TOKEN to turn it on")]
    if not settings.telegram_webhook_secret:
        return [ChannelStatus(
            telegram.NAME, True, "long polling only (`loyalty telegram poll`); set TELEGRAM_WEBHOOK_SECRET "
            "and PUBLIC_BASE_URL for the webhook",
        )]
    return [ChannelStatus(telegram.NAME, True, "webhook POST /webhooks/telegram")]


def adapters(
    settings: Settings, sessions: sessionmaker[Session] | None, clock: Callable[[], datetime] | None,
) -> dict[str, Adapter]:
    """On with a token, whether updates come by webhook or by polling."""
    if not settings.telegram_bot_token:
        return {}
    return {telegram.NAME: telegram.TelegramAdapter(settings.telegram_bot_token, settings.telegram_api_base_url)}


def _plain(status: int, text: str) -> Response:
    return Response(text + "\n", status=status, content_type="text/plain; charset=utf-8")


@bp.post("/webhooks/telegram")
def telegram_webhook() -> Any:
    rt = runtime()
    settings = rt.settings
    if not settings.telegram_bot_token or not settings.telegram_webhook_secret:
        # Without a secret anyone could post updates: the webhook is only served with one.
        return _plain(404, "the Telegram webhook is off (set TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET)")
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), settings.telegram_webhook_secret.encode()):
        log.warning("telegram webhook: %s secret token from %s: refused (403)",
                    "wrong" if given else "missing", request.remote_addr)
        return _plain(403, "forbidden")
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:
        log.warning("telegram webhook: body of %s bytes is over the limit: refused (413)", request.content_length)
        raise
    try:
        data = json_body.loads(raw, clean=True)  # odd text from a customer is answered
    except json_body.BadJson as error:
        log.warning("telegram webhook: %s (%d bytes): refused (400)", error, len(raw))
        return _plain(400, str(error))
    try:
        program_id = rt.program_id()
        parsed = telegram.parse(data, program_id)
    except telegram.MalformedUpdate as error:
        log.warning("telegram webhook: %s: refused (400)", error)
        return _plain(400, str(error))
    except UNAVAILABLE as error:  # the program's id is a query on a fresh worker
        log.error("telegram webhook: not ready: %s (503, Telegram will retry)",
                  error if isinstance(error, SetupError) else f"the database is unavailable ({type(error).__name__})")
        return _plain(503, "not ready")
    if parsed is None:
        log.info("telegram update %s: a kind the bot does not answer; ignored", data.get("update_id"))
        return _plain(200, "ignored")
    message = parsed.message
    try:
        received = rt.receive(message)
    except UNAVAILABLE as error:
        # The database is unreachable, or the transaction kept losing races after being
        # run again (Runtime.run): Telegram retries a 5xx, and the retry finds the delivery
        # recorded (one effect) or does the work.
        log.warning("telegram update %s: %s; answered 503 so Telegram retries", message.provider_message_id,
                    type(error).__name__)
        return _plain(503, "try again")
    except LoyaltyError as error:
        log.error("telegram update %s from chat %s could not be handled: %s", message.provider_message_id,
                  message.address, error)
        return _plain(200, "not handled")
    log.info("telegram update %s from chat %s%s: %s", message.provider_message_id, message.address,
             f" (shared phone {mask(message.phone)})" if message.phone else "",
             "duplicate, ignored" if received.duplicate else f"{received.queued} message(s) queued")
    if parsed.callback_query_id:
        # Answered inside the webhook response: the button stops spinning, no extra request.
        return jsonify(method="answerCallbackQuery", callback_query_id=parsed.callback_query_id)
    return _plain(200, "ok")


# --- the bot's @name, for invite links (https://t.me/<name>?start=<code>) ---------------------
#
# Asked of Telegram (getMe) once, when a process that answers messages starts (``loyalty
# serve``, the gunicorn app in web/wsgi.py, ``loyalty telegram poll``), and kept on the
# runtime: a webhook request never waits on Telegram for it. If Telegram cannot be reached
# at start, a background thread asks again every ``NAME_RETRY_SECONDS`` until it answers;
# meanwhile invite links use ``TELEGRAM_BOT_USERNAME`` if it is set, and otherwise say the
# Telegram link is unavailable for now (``bot.views.invite``).


def learn(rt: Runtime) -> bool:
    """Ask getMe once; True when the runtime knows the name (now or already)."""
    if rt.telegram_username:
        return True
    token = rt.settings.telegram_bot_token
    if not token:
        return False
    adapter = telegram.TelegramAdapter(token, rt.settings.telegram_api_base_url, timeout=NAME_TIMEOUT_SECONDS, pool_size=1)
    try:
        rt.telegram_username = adapter.username() or None
    except telegram.TelegramUnavailable as error:
        fallback = rt.settings.telegram_bot_username
        log.warning("telegram: could not learn the bot's name for invite links (%s); %s; asking again later",
                    error, f"using TELEGRAM_BOT_USERNAME @{fallback}" if fallback
                    else "invite links say the Telegram link is unavailable (set TELEGRAM_BOT_USERNAME)")
    finally:
        adapter.close()
    return rt.telegram_username is not None


def learn_at_start(rt: Runtime, retry_seconds: float = NAME_RETRY_SECONDS,
                   stop: threading.Event | None = None) -> threading.Thread | None:
    """``learn`` now; if Telegram did not answer, keep asking in a daemon thread (returned,
    ended once it has the name or ``stop`` is set). None when nothing is left to do."""
    if learn(rt) or not rt.settings.telegram_bot_token:
        return None
    stopping = stop or threading.Event()

    def again() -> None:
        while not stopping.wait(retry_seconds) and not learn(rt):
            pass

    thread = threading.Thread(target=again, name="telegram-name", daemon=True)
    thread.start()
    return thread


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
