"""Settings from the environment, read once in the app factory (never at import time)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


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

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = (env.get(name) or "").strip()
            return value or None

        return cls(
            database_url=get("DATABASE_URL") or f"sqlite:///{Path.cwd() / 'loyalty.db'}",
            secret_key=get("SECRET_KEY"),
            public_base_url=(get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
            program_file=get("LOYALTY_PROGRAM_FILE"),
            qr_dir=Path(get("LOYALTY_QR_DIR") or Path.cwd() / "loyalty-qr"),
            telegram_bot_token=get("TELEGRAM_BOT_TOKEN"),
            telegram_webhook_secret=get("TELEGRAM_WEBHOOK_SECRET"),
            telegram_api_base_url=get("TELEGRAM_API_BASE_URL"),
            telegram_bot_username=(get("TELEGRAM_BOT_USERNAME") or "").lstrip("@") or None,
            twilio_account_sid=get("TWILIO_ACCOUNT_SID"),
            twilio_auth_token=get("TWILIO_AUTH_TOKEN"),
            twilio_sms_from=get("TWILIO_SMS_FROM"),
            twilio_whatsapp_from=get("TWILIO_WHATSAPP_FROM"),
            twilio_api_base_url=get("TWILIO_API_BASE_URL"),
            web_chat=(get("LOYALTY_WEB_CHAT") or "on").lower() not in ("off", "0", "false", "no"),
            sender_rates=tuple(sorted((k, v.strip()) for k, v in env.items() if k.startswith("LOYALTY_RATE_"))),
            sql_through_orm=(get("LOYALTY_SQL_THROUGH_ORM") or "off").lower() in ("on", "1", "true", "yes"),
        )
