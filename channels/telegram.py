"""Telegram: Bot API updates in, Replies out, with python-telegram-bot's own classes.

The input side is sans-io: ``parse`` reads an update (the webhook's JSON, or one that
getUpdates returned) into an ``IncomingMessage``, reading only the fields the bot uses; no
request object, no network. The output side, ``TelegramAdapter``, draws a Reply the way
Telegram shows it (inline keyboard, the QR as a photo, a contact-request button) and sends
it with one reused ``telegram.Bot``. PTB is async and the sender is not, so the adapter runs
a private event loop in a background thread and waits on the coroutines it submits there.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from telegram import (
    Bot,
    Chat,
    Contact,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
    User,
    WebhookInfo,
)
from telegram import error as tg
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.messages import SHARE_PHONE, Button, IncomingMessage, Reply
from channels.base import quiet_sdk_logger, render_text
from channels.sender import PermanentFailure, RetryAfter
from rewards.errors import InvalidInput
from rewards.inputs import ascii_digits
from rewards.phones import parse_phone
from rewards.qr import qr_png

NAME = "telegram"
ALLOWED_UPDATES = ("message", "callback_query")
CALLBACK_DATA_MAX = 64  # bytes
CAPTION_MAX = 1024
TEXT_MAX = 4096
DEFAULT_API_ROOT = "https://api.telegram.org"
T = TypeVar("T")
log = logging.getLogger(__name__)
# PTB 22 warns on every RetryAfter that retry_after will become a timedelta; ``_seconds``
# takes either, so the warning is only noise (raised in the loop thread, once per 429).
warnings.filterwarnings("ignore", message=r".*`retry_after` will be of type", category=PTBDeprecationWarning)


# --- input ---------------------------------------------------------------------------


class MalformedUpdate(ValueError):
    """The body is JSON but not a Telegram update."""


@dataclass(frozen=True, slots=True)
class Parsed:
    """An update read: the message for the core, and the button press to acknowledge."""

    message: IncomingMessage
    callback_query_id: str | None = None


def parse(data: Any, program_id: int) -> Parsed | None:
    """The update ``data`` (the Bot API's JSON) as a message for ``program_id``; None for
    updates the bot does not answer (edits, channel posts, group chats, membership changes,
    ...). Raises ``MalformedUpdate`` when ``data`` is not an update at all.

    Only the fields the bot uses are read, from the JSON as the Bot API documents them
    (https://core.telegram.org/bots/api#update), checked for type: ``Update.de_json`` builds
    every field of the message as objects (about 250 us an update on the bench machine,
    most of a webhook's reading), for the eight the bot looks at."""
    if not isinstance(data, dict) or type(data.get("update_id")) is not int:
        raise MalformedUpdate("an update is a JSON object with an integer update_id")
    try:
        return _read(data, program_id)
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise MalformedUpdate(f"not a Telegram update ({type(error).__name__})") from None


def parse_update(update: Update, program_id: int) -> Parsed | None:
    """``parse`` for an update python-telegram-bot has read already (``loyalty telegram poll``)."""
    return parse(update.to_dict(), program_id)


def _read(data: dict[str, Any], program_id: int) -> Parsed | None:
    update_id = str(data["update_id"])
    query = data.get("callback_query")
    if query is not None:
        if not isinstance(query["id"], str):
            raise ValueError("a callback query has an id")
        sender = _user(query["from"])
        chat = _chat(query["message"]["chat"]) if query.get("message") is not None else None
        payload = _text(query, "data")
        if not payload or (chat is not None and chat[1] != Chat.PRIVATE):
            return None
        address = str(chat[0] if chat is not None else sender["id"])  # a private chat's id is the user's
        message = IncomingMessage(
            program_id, NAME, address, payload, provider_message_id=update_id,
            language_hint=_language(sender), payload=payload,
        )
        return Parsed(message, query["id"])
    msg = data.get("message")
    if msg is None:
        return None
    chat_id, chat_type = _chat(msg["chat"])
    if type(msg["message_id"]) is not int or type(msg["date"]) is not int:
        raise ValueError("a message has an integer message_id and date")
    sender = _user(msg["from"]) if msg.get("from") is not None else None
    if chat_type != Chat.PRIVATE or sender is None or sender.get("is_bot"):
        return None
    address, hint = str(chat_id), _language(sender)
    if msg.get("contact") is not None:
        phone = own_phone(Contact.de_json(msg["contact"], None), sender["id"])
        return Parsed(IncomingMessage(
            program_id, NAME, address, "", provider_message_id=update_id, phone=phone, language_hint=hint,
            payload=SHARE_PHONE,
        ))
    # A sticker or a voice note gets the short help, never silence: the core answers "".
    text = _text(msg, "text") or _text(msg, "caption") or ""
    return Parsed(IncomingMessage(program_id, NAME, address, text, provider_message_id=update_id, language_hint=hint))


def _chat(chat: dict[str, Any]) -> tuple[int, str]:
    if type(chat["id"]) is not int or not isinstance(chat["type"], str):
        raise ValueError("a chat has an integer id and a type")
    return chat["id"], chat["type"]


def _user(user: dict[str, Any]) -> dict[str, Any]:
    if type(user["id"]) is not int:
        raise ValueError("a user has an integer id")
    return user


def _text(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} is text")
    return value


def own_phone(contact: Contact, sender_id: int) -> str | None:
    """The contact's number in E.164 when it is the sender's own (Telegram sets the contact's
    user_id for a real account, so a card of someone else's number never links a wallet)."""
    if contact.user_id is None or contact.user_id != sender_id:
        return None
    raw = contact.phone_number.strip()
    try:
        return parse_phone(raw if raw.startswith("+") else "+" + raw)
    except InvalidInput:
        return None


def _language(user: dict[str, Any]) -> str | None:
    code = _text(user, "language_code") or ""
    return code.replace("_", "-").split("-")[0].lower() or None


# --- output --------------------------------------------------------------------------


class TelegramUnavailable(Exception):  # noqa: N818 - reads as what happened
    """Telegram (or the server at TELEGRAM_API_BASE_URL) did not do what was asked; the
    message says why, never with the token in it."""


def api_urls(base_url: str | None) -> tuple[str, str]:
    """PTB's ``base_url`` and ``base_file_url`` (PTB appends the token to each) for a server
    root like ``http://127.0.0.1:8081``; ``.../bot`` and PTB's ``{token}`` form are taken too."""
    root = (base_url or DEFAULT_API_ROOT).rstrip("/")
    if "{token}" in root:
        return root, root.replace("/bot{token}", "/file/bot{token}")
    root = root.removesuffix("/bot")
    return root + "/bot", root + "/file/bot"


def inline_keyboard(buttons: Sequence[Button]) -> InlineKeyboardMarkup:
    """One button a row, two when every title is short. A payload over Telegram's 64-byte
    callback_data limit is sent as its menu number, which the core reads the same way."""
    keys = [
        InlineKeyboardButton(b.title, callback_data=b.payload if len(b.payload.encode()) <= CALLBACK_DATA_MAX else str(i))
        for i, b in enumerate(buttons, 1)
    ]
    width = 2 if all(len(b.title) <= 18 for b in buttons) else 1
    return InlineKeyboardMarkup([keys[i : i + width] for i in range(0, len(keys), width)])


def contact_keyboard(button: Button) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        [[KeyboardButton(button.title, request_contact=True)]], resize_keyboard=True, one_time_keyboard=True,
    )


def _chunks(text: str) -> list[str]:
    text = text or "…"  # Telegram refuses an empty message
    return [text[i : i + TEXT_MAX] for i in range(0, len(text), TEXT_MAX)]


# BadRequest descriptions that mean the chat itself is gone, not that this message was wrong.
_GONE = ("chat not found", "user not found", "peer_id_invalid", "chat_write_forbidden", "user is deactivated",
         "have no rights to send", "not enough rights to send")


class TelegramAdapter:
    """Sends Replies through the Bot API (``send`` is what the outbox sender calls), plus the
    few calls the ``loyalty telegram`` commands need. Thread-safe; ``close`` when done."""

    name = NAME

    def __init__(self, token: str, base_url: str | None = None, *, timeout: float = 10.0, pool_size: int = 16) -> None:
        self._token = token
        api, files = api_urls(base_url)
        self.bot = Bot(
            token, base_url=api, base_file_url=files,
            request=HTTPXRequest(connection_pool_size=pool_size, read_timeout=timeout, write_timeout=timeout,
                                 connect_timeout=timeout, pool_timeout=timeout),
            get_updates_request=HTTPXRequest(connection_pool_size=1, read_timeout=timeout, connect_timeout=timeout),
        )
        self.timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self._ready = False
        quiet_sdk_logger("httpx")  # it logs each request's URL, and the Bot API puts the token there

    # -- the event loop -----------------------------------------------------------------

    def _run(self, call: Callable[[], Awaitable[T]], timeout: float | None = None) -> T:
        with self._start:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name="telegram-bot", daemon=True)
                self._thread.start()
            loop = self._loop
        future = asyncio.run_coroutine_threadsafe(self._initialized(call), loop)
        try:
            return future.result(timeout or self.timeout * 3 + 5)
        except TimeoutError:
            future.cancel()
            raise TelegramUnavailable("no answer from the Telegram Bot API in time") from None
        except tg.InvalidToken:
            raise TelegramUnavailable(
                "the Bot API refused the bot token: check TELEGRAM_BOT_TOKEN (and TELEGRAM_API_BASE_URL)") from None

    async def _initialized(self, call: Callable[[], Awaitable[T]]) -> T:
        if not self._ready:
            await self.bot.initialize()  # getMe: checks the token once, caches the bot's name
            self._ready = True
        return await call()

    def _call(self, call: Callable[[], Awaitable[T]], timeout: float | None = None) -> T:
        """``_run`` for the commands: any Bot API refusal as one clean TelegramUnavailable."""
        try:
            return self._run(call, timeout)
        except tg.TelegramError as error:
            raise TelegramUnavailable(f"Telegram said: {self._scrub(str(error))}") from None

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "<token>") if self._token else text

    def close(self) -> None:
        """Close the HTTP connections and stop the loop thread."""
        with self._start:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        if self._ready:
            try:
                asyncio.run_coroutine_threadsafe(self.bot.shutdown(), loop).result(self.timeout)
            except Exception:  # noqa: BLE001 - closing: nothing useful to do about it
                log.debug("telegram: shutdown failed", exc_info=True)
            self._ready = False
        loop.call_soon_threadsafe(loop.stop)
        thread.join(self.timeout)
        loop.close()

    # -- sending --------------------------------------------------------------------------

    def send(self, address: str, reply: Reply) -> str:
        """Send ``reply`` to the chat ``address``; the id of the (first) message sent."""
        try:
            return self._run(lambda: self._send(address, reply))
        except tg.RetryAfter as error:
            raise RetryAfter(_seconds(error)) from None
        except tg.Forbidden as error:  # bot blocked, user deactivated, kicked
            raise PermanentFailure(f"telegram: {error.message}") from None
        except tg.BadRequest as error:
            gone = any(words in error.message.lower() for words in _GONE)
            raise PermanentFailure(f"telegram: {error.message}", unreachable=gone) from None
        except tg.ChatMigrated as error:
            raise PermanentFailure(f"telegram: the chat moved to {error.new_chat_id}") from None
        except tg.TelegramError as error:  # network trouble, timeouts, 5xx: transient, retried
            raise TelegramUnavailable(f"telegram: {self._scrub(str(error)) or type(error).__name__}") from None

    async def _send(self, address: str, reply: Reply) -> str:
        chat_id = int(address) if ascii_digits(address.lstrip("-")) else address
        text = render_text(reply, numbered=False)  # buttons are drawn, so no numbers and no hint
        choices = reply.choices
        share = next((b for b in reply.buttons if b.payload == SHARE_PHONE), None)
        # A message carries one keyboard: inline choices win, and a share button that came
        # with them follows in a message of its own.
        markup = inline_keyboard(choices) if choices else contact_keyboard(share) if share else None
        ids: list[int] = []
        chunks = _chunks(text)
        if reply.image is not None and reply.image.kind in ("qr", "url"):
            fits = len(text) <= CAPTION_MAX
            qr = reply.image.kind == "qr"
            photo = await self.bot.send_photo(  # a picture by address: Telegram fetches it
                chat_id, qr_png(reply.image.data) if qr else reply.image.data, caption=text if fits else None,
                filename=reply.image.filename if qr else None, reply_markup=markup if fits else None,
            )
            ids.append(photo.message_id)
            chunks = [] if fits else chunks
        for i, chunk in enumerate(chunks):
            sent = await self.bot.send_message(chat_id, chunk, reply_markup=markup if i == len(chunks) - 1 else None)
            ids.append(sent.message_id)
        if share is not None and choices:
            sent = await self.bot.send_message(chat_id, share.title, reply_markup=contact_keyboard(share))
            ids.append(sent.message_id)
        return str(ids[0])

    # -- the rest of the Bot API the commands use -------------------------------------------

    def get_me(self) -> User:
        return self._call(self.bot.get_me)

    def username(self) -> str:
        """The bot's @name, from the getMe that checked the token (no second call)."""

        async def cached() -> User:
            return self.bot.bot

        return self._call(cached).username or ""

    def set_webhook(self, url: str, secret_token: str) -> bool:
        return self._call(lambda: self.bot.set_webhook(url, secret_token=secret_token, allowed_updates=list(ALLOWED_UPDATES)))

    def delete_webhook(self) -> bool:
        return self._call(self.bot.delete_webhook)

    def webhook_info(self) -> WebhookInfo:
        return self._call(self.bot.get_webhook_info)

    def get_updates(self, offset: int | None, timeout: int = 30, limit: int = 100) -> tuple[Update, ...]:
        """Long polling: waits up to ``timeout`` seconds for updates from ``offset`` on (and
        confirms the ones before it)."""
        return self._call(
            lambda: self.bot.get_updates(offset=offset, timeout=timeout, limit=limit, allowed_updates=list(ALLOWED_UPDATES)),
            timeout=timeout + self.timeout * 3 + 5,
        )

    def answer_callback_query(self, callback_query_id: str) -> bool:
        return self._call(lambda: self.bot.answer_callback_query(callback_query_id))


def _seconds(error: tg.RetryAfter) -> float:
    value = error.retry_after  # PTB 22: an int, or a timedelta with PTB_TIMEDELTA set
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
