"""Settings from the environment, read once in the app factory (never at import time).

A value that cannot mean what was intended is never read as something else: a setting
that shapes everything (LOYALTY_WEB_CHAT, the base URLs) stops the start with one line
naming it; a channel credential of the wrong shape turns only that channel off, with one
line saying why where the channels are listed (``Settings.unusable``).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from rewards.errors import LoyaltyError

FLAGS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
# @BotFather's tokens: the bot's numeric id, a colon, 35 letters, digits, - or _ (some slack
# on the length: Telegram does not promise it).
_TELEGRAM_TOKEN = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{30,64}")
_TWILIO_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_URL_SETTINGS = ("PUBLIC_BASE_URL", "TELEGRAM_API_BASE_URL", "TWILIO_API_BASE_URL")


class SettingError(LoyaltyError):
    """An environment variable holds a value that cannot mean what was intended."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str | None
    public_base_url: str | None
    program_file: str | None
    qr_dir: Path
    telegram_bot_token: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_api_base_url: str | None = None
    # The bot's @name for invite links while Telegram cannot tell it (web/telegram_name.py).
    telegram_bot_username: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_sms_from: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_api_base_url: str | None = None
    # The /chat page (anyone can act as any phone number there): LOYALTY_WEB_CHAT=off in production.
    web_chat: bool = True
    # LOYALTY_RATE_<CHANNEL>[_PER_CHAT] as given; checked and applied by web/sender_runtime.py.
    sender_rates: tuple[tuple[str, str], ...] = ()
    # LOYALTY_SQL_THROUGH_ORM=1: the hot statements (rewards/storage/prepared.py) go through the
    # Session, into SQLAlchemy's echo log and events; slower, for debugging.
    sql_through_orm: bool = False
    # (variable, why) for credentials set but of the wrong shape: read as unset, so their
    # channel is off, and said where the channels are listed. Never holds the value.
    unusable: tuple[tuple[str, str], ...] = ()

    def why_unusable(self, name: str) -> str | None:
        """Why the variable ``name`` was set but is ignored (None when it is not)."""
        return next((why for variable, why in self.unusable if variable == name), None)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = (env.get(name) or "").strip()
            return value or None

        for name in _URL_SETTINGS:
            _check_url(name, get(name))
        unusable = []
        telegram_token = get("TELEGRAM_BOT_TOKEN")
        if telegram_token and not _TELEGRAM_TOKEN.fullmatch(telegram_token):
            unusable.append(("TELEGRAM_BOT_TOKEN", "TELEGRAM_BOT_TOKEN is not a bot token (digits, a colon and 35 "
                                                   "letters, digits, - or _, as @BotFather gives it): Telegram is off"))
            telegram_token = None
        account_sid = get("TWILIO_ACCOUNT_SID")
        if account_sid and not _TWILIO_ACCOUNT_SID.fullmatch(account_sid):
            unusable.append(("TWILIO_ACCOUNT_SID", "TWILIO_ACCOUNT_SID is not an account SID (AC and 32 hex digits, "
                                                   "from the Twilio console): WhatsApp and SMS are off"))
            account_sid = None

        return cls(
            database_url=get("DATABASE_URL") or f"sqlite:///{Path.cwd() / 'loyalty.db'}",
            secret_key=get("SECRET_KEY"),
            public_base_url=(get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
            program_file=get("LOYALTY_PROGRAM_FILE"),
            qr_dir=Path(get("LOYALTY_QR_DIR") or Path.cwd() / "loyalty-qr"),
            telegram_bot_token=telegram_token,
            telegram_webhook_secret=get("TELEGRAM_WEBHOOK_SECRET"),
            telegram_api_base_url=get("TELEGRAM_API_BASE_URL"),
            telegram_bot_username=(get("TELEGRAM_BOT_USERNAME") or "").lstrip("@") or None,
            twilio_account_sid=account_sid,
            twilio_auth_token=get("TWILIO_AUTH_TOKEN"),
            twilio_sms_from=get("TWILIO_SMS_FROM"),
            twilio_whatsapp_from=get("TWILIO_WHATSAPP_FROM"),
            twilio_api_base_url=get("TWILIO_API_BASE_URL"),
            web_chat=flag("LOYALTY_WEB_CHAT", get("LOYALTY_WEB_CHAT"), default=True),
            sender_rates=tuple(sorted((k, v.strip()) for k, v in env.items() if k.startswith("LOYALTY_RATE_"))),
            sql_through_orm=flag("LOYALTY_SQL_THROUGH_ORM", get("LOYALTY_SQL_THROUGH_ORM"), default=False),
            unusable=tuple(unusable),
        )


def flag(name: str, value: str | None, *, default: bool) -> bool:
    """An on/off setting: 1/0, true/false, yes/no, on/off in any case; anything else is
    refused (a typo must not turn on the page that lets anyone act as any customer)."""
    if value is None:
        return default
    try:
        return FLAGS[value.lower()]
    except KeyError:
        raise SettingError(f'{name} must be on or off (or 1/0, true/false, yes/no), got "{value}"') from None


def _check_url(name: str, value: str | None) -> None:
    if value is None:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingError(f'{name} must be an address like https://loyalty.example, got "{value}"')
