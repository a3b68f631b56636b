"""Fake provider servers that speak the providers' real wire formats, for tests and bench/.

The real SDKs talk to them unchanged (pointed there by TELEGRAM_API_BASE_URL or
TWILIO_API_BASE_URL); nothing here replaces an SDK's own serialisation. Import as
``from fakes.telegram_api import FakeTelegram`` (tests/ is on sys.path under pytest;
bench/ scripts add it). ``python tests/fakes/telegram_terminal.py`` talks to the bot as a
Telegram customer from a terminal (docs/telegram.md).
"""
