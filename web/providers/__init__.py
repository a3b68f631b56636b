"""The providers, found by name: one module each (``web/providers/telegram.py`` holds
everything about Telegram the app needs: its webhook, what turns it on, its adapter for
the sender; ``twilio.py`` the same for WhatsApp and SMS; ``webchat.py`` the /chat page's
channel). The app factory and the sender read this registry, never a provider directly.

A channel whose settings are absent is off, with the reason said once at start; nothing
else breaks. ``build_adapters`` is the one place that constructs provider adapters.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from channels.sender import Adapter
from web.providers import telegram, twilio, webchat
from web.providers.base import ChannelStatus
from web.settings import Settings

# In the order their channels are listed at start.
PROVIDERS = (webchat, telegram, twilio)

__all__ = ["PROVIDERS", "ChannelStatus", "build_adapters", "channel_statuses", "enabled_channels", "init_app"]


def channel_statuses(settings: Settings) -> list[ChannelStatus]:
    return [status for provider in PROVIDERS for status in provider.statuses(settings)]


def enabled_channels(settings: Settings) -> list[str]:
    return [status.name for status in channel_statuses(settings) if status.on]


def build_adapters(
    settings: Settings, sessions: sessionmaker[Session] | None = None, clock: Callable[[], datetime] | None = None,
) -> dict[str, Adapter]:
    """An adapter for every channel that is on. ``sessions`` lets the WhatsApp and SMS
    adapters read opt-outs and WhatsApp's window (without it they open their own engine);
    ``clock`` is the runtime's (WhatsApp's window, media URL expiry)."""
    adapters: dict[str, Adapter] = {}
    for provider in PROVIDERS:
        adapters.update(provider.adapters(settings, sessions, clock))
    return adapters


def init_app(app: Flask) -> None:
    """Every provider's webhooks."""
    for provider in PROVIDERS:
        provider.init_app(app)
