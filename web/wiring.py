"""Which channels are on, and the adapters the sender uses for them.

A channel whose settings are absent is off, with the reason said once at start; nothing
else breaks. ``build_adapters`` is the one place that constructs provider adapters.
"""
from __future__ import annotations

from dataclasses import dataclass

from channels.sender import Adapter
from web.settings import Settings


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    name: str
    on: bool
    why: str  # what turns it on, or what it is served by


def channel_statuses(settings: Settings) -> list[ChannelStatus]:
    s = settings
    statuses = [ChannelStatus("web", True, "the /chat page")]
    if not s.telegram_bot_token:
        statuses.append(ChannelStatus("telegram", False, "set TELEGRAM_BOT_TOKEN to turn it on"))
    elif not s.telegram_webhook_secret:
        statuses.append(ChannelStatus(
            "telegram", True, "long polling only (`loyalty telegram poll`); set TELEGRAM_WEBHOOK_SECRET "
            "and PUBLIC_BASE_URL for the webhook",
        ))
    else:
        statuses.append(ChannelStatus("telegram", True, "webhook POST /webhooks/telegram"))
    twilio_missing = [name for name, value in (
        ("TWILIO_ACCOUNT_SID", s.twilio_account_sid), ("TWILIO_AUTH_TOKEN", s.twilio_auth_token),
    ) if not value]
    for channel, sender_setting, sender in (
        ("whatsapp", "TWILIO_WHATSAPP_FROM", s.twilio_whatsapp_from), ("sms", "TWILIO_SMS_FROM", s.twilio_sms_from),
    ):
        missing = twilio_missing + ([] if sender else [sender_setting])
        if not s.public_base_url:
            missing.append("PUBLIC_BASE_URL")
        if missing:
            statuses.append(ChannelStatus(channel, False, "set " + ", ".join(missing) + " to turn it on"))
        else:
            statuses.append(ChannelStatus(channel, True, f"webhook POST /webhooks/{channel}"))
    return statuses


def enabled_channels(settings: Settings) -> list[str]:
    return [status.name for status in channel_statuses(settings) if status.on]


def build_adapters(settings: Settings) -> dict[str, Adapter]:
    """An adapter for every channel that is on. (Filled in as each channel lands.)"""
    return {}
