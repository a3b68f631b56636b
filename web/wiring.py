"""Which channels are on, and the adapters the sender uses for them.

A channel whose settings are absent is off, with the reason said once at start; nothing
else breaks. ``build_adapters`` is the one place that constructs provider adapters.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from channels import telegram, twilio, webchat
from channels.sender import Adapter
from rewards.models import Identity, Program
from rewards.program.programs import config_of
from rewards.storage.db import make_engine, session_factory
from web.media import qr_url_maker
from web.settings import Settings


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    name: str
    on: bool
    why: str  # what turns it on, or what it is served by


def channel_statuses(settings: Settings) -> list[ChannelStatus]:
    s = settings
    statuses = [ChannelStatus("web", True, "the /chat page (a demo: phone numbers are not verified)")
                if s.web_chat else ChannelStatus("web", False, "set LOYALTY_WEB_CHAT=on for the /chat demo page")]
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


def build_adapters(
    settings: Settings, sessions: sessionmaker[Session] | None = None, clock: Callable[[], datetime] | None = None,
) -> dict[str, Adapter]:
    """An adapter for every channel that is on. ``sessions`` lets the WhatsApp and SMS
    adapters read opt-outs and WhatsApp's window (without it they open their own engine);
    ``clock`` is the runtime's (WhatsApp's window, media URL expiry)."""
    adapters: dict[str, Adapter] = {}
    # Always, even with /chat off: rows queued while it was on still get delivered.
    adapters[webchat.NAME] = webchat.WebChatOutput()
    # --- Telegram: on with a token, whether updates come by webhook or by polling.
    if settings.telegram_bot_token:
        adapters[telegram.NAME] = telegram.TelegramAdapter(settings.telegram_bot_token, settings.telegram_api_base_url)
    # --- end Telegram
    # --- WhatsApp and SMS (Twilio): one REST client for both senders.
    twilio_on = [name for name in enabled_channels(settings) if name in twilio.CHANNELS]
    if twilio_on:
        if not (settings.twilio_account_sid and settings.twilio_auth_token and settings.public_base_url):
            raise ValueError("WhatsApp and SMS need TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL")
        client = twilio.make_client(settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_base_url)
        sessions = sessions or session_factory(make_engine(settings.database_url))
        clock = clock or (lambda: datetime.now(UTC))
        senders = {twilio.WHATSAPP: settings.twilio_whatsapp_from, twilio.SMS: settings.twilio_sms_from}
        for name in twilio_on:
            adapters[name] = twilio.TwilioAdapter(
                client, name, senders[name] or "",
                contact=twilio_contacts(sessions, name),
                status_callback=settings.public_base_url + twilio.STATUS_PATH,
                media_url=qr_url_maker(settings, clock) if name == twilio.WHATSAPP else None,
                clock=clock,
            )
    # --- end WhatsApp and SMS
    return adapters


def twilio_contacts(sessions: sessionmaker[Session], channel: str) -> Callable[[str], twilio.Contact | None]:
    """``address -> Contact`` for a Twilio adapter: a short read at send time, so a STOP or a
    message that came in a moment ago counts. An address known to several programs is
    read as the one that wrote last (one Twilio sender serves one program)."""

    def contact(address: str) -> twilio.Contact | None:
        with sessions() as session:
            identity = session.scalars(
                select(Identity).where(Identity.channel == channel, Identity.address == address)
                .order_by(Identity.last_seen_at.desc()).limit(1)
            ).first()
            if identity is None:
                return None
            program = session.get(Program, identity.program_id)
            template = config_of(program).whatsapp.notice_template_sid if program is not None else None
            return twilio.Contact(identity.last_seen_at, identity.stopped_at is not None, template)

    return contact
