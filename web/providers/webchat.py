"""The /chat page as a channel: on with LOYALTY_WEB_CHAT; its page is web/chat_page.py."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from channels import webchat
from channels.sender import Adapter
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
