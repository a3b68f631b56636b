"""The /chat page as a channel: on with LOYALTY_WEB_CHAT, and what it receives goes in with the
customer's words kept; its page is web/chat_page.py."""
from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from bot.messages import IncomingMessage
from bot.turn import BotSettings
from channels import webchat
from channels.sender import Adapter
from web import inbox
from web.providers.base import ChannelStatus
from web.settings import Settings


def statuses(settings: Settings) -> list[ChannelStatus]:
    if settings.web_chat:
        return [ChannelStatus(webchat.NAME, True, "the /chat page (a demo: phone numbers are not verified)")]
    return [ChannelStatus(webchat.NAME, False, "set LOYALTY_WEB_CHAT=on for the /chat demo page")]


def adapters(
    settings: Settings, sessions: sessionmaker[Session] | None, clock: Callable[[], datetime] | None,
) -> dict[str, Adapter]:
    # Always, even with /chat off: rows queued while it was on still get delivered.
    return {webchat.NAME: webchat.WebChatOutput()}


def init_app(app: Flask) -> None:
    """The page itself is registered by the app factory (web/chat_page.py)."""


def receive(
    session: Session, message: IncomingMessage, now: datetime, channels: Collection[str],
    settings: BotSettings | None = None,
) -> inbox.Received:
    """``web.inbox.receive``, keeping the customer's words with the first reply (the page
    shows both sides when a number is opened again)."""
    return inbox.receive(session, message, now, channels, settings, said=message.text)
