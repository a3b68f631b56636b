"""Settings from the environment: a value that cannot mean what was intended is refused or
ignored in one line naming the variable, never read as something else."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from web.cli import cli
from web.providers import enabled_channels
from web.sender_runtime import channel_lines
from web.settings import SettingError, Settings

BASE = {"DATABASE_URL": "sqlite://"}
TOKEN = "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"  # the shape of @BotFather's tokens
TWILIO = {"TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2, "TWILIO_AUTH_TOKEN": "t", "TWILIO_SMS_FROM": "+15550009999",
          "PUBLIC_BASE_URL": "https://loyalty.example"}


@pytest.mark.parametrize(("value", "on"), [
    ("on", True), ("ON", True), ("1", True), ("true", True), ("Yes", True),
    ("off", False), ("Off", False), ("0", False), ("FALSE", False), ("no", False), ("", True),
])
def test_the_web_chat_switch_takes_clear_values_in_any_case(value: str, on: bool) -> None:
    assert Settings.from_env({**BASE, "LOYALTY_WEB_CHAT": value}).web_chat is on


@pytest.mark.parametrize("value", ["maybe", "of", "enabled", "2"])
def test_an_unclear_web_chat_switch_is_refused(value: str) -> None:
    with pytest.raises(SettingError) as refused:
        Settings.from_env({**BASE, "LOYALTY_WEB_CHAT": value})
    assert str(refused.value) == f'LOYALTY_WEB_CHAT must be on or off (or 1/0, true/false, yes/no), got "{value}"'


def test_a_command_refuses_to_start_with_an_unclear_switch_in_one_line(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}", "LOYALTY_QR_DIR": str(tmp_path / "qr"),
           "LOYALTY_WEB_CHAT": "maybe"}
    result = CliRunner().invoke(cli, ["serve", "--port", "0"], env=env)
    assert result.exit_code == 1
    assert result.output == 'Error: LOYALTY_WEB_CHAT must be on or off (or 1/0, true/false, yes/no), got "maybe"\n'


@pytest.mark.parametrize("name", ["PUBLIC_BASE_URL", "TELEGRAM_API_BASE_URL", "TWILIO_API_BASE_URL"])
@pytest.mark.parametrize("value", ["loyalty.example", "ftp://loyalty.example", "https://"])
def test_an_address_that_is_no_url_is_refused_naming_it(name: str, value: str) -> None:
    with pytest.raises(SettingError) as refused:
        Settings.from_env({**BASE, name: value})
    assert str(refused.value).startswith(f"{name} must be an address like https://")


@pytest.mark.parametrize("token", ["12345", "123:abc", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", f'"{TOKEN}"', TOKEN + " x"])
def test_a_malformed_bot_token_turns_telegram_off_with_one_line_naming_it(token: str) -> None:
    settings = Settings.from_env({**BASE, "TELEGRAM_BOT_TOKEN": token})
    assert "telegram" not in enabled_channels(settings)
    line = next(line for line in channel_lines(settings, []) if "telegram" in line)
    assert line.split() == ["telegram", "off", *"TELEGRAM_BOT_TOKEN is not a bot token (digits, a colon and 35 letters, "
                                                "digits, - or _, as @BotFather gives it): Telegram is off".split()]
    assert token not in line


def test_a_bot_token_of_the_right_shape_turns_telegram_on() -> None:
    settings = Settings.from_env({**BASE, "TELEGRAM_BOT_TOKEN": TOKEN})
    assert "telegram" in enabled_channels(settings) and settings.unusable == ()


def test_a_malformed_account_sid_turns_whatsapp_and_sms_off_naming_it() -> None:
    assert "sms" in enabled_channels(Settings.from_env({**BASE, **TWILIO}))
    settings = Settings.from_env({**BASE, **TWILIO, "TWILIO_ACCOUNT_SID": "my-account"})
    assert "sms" not in enabled_channels(settings)
    lines = channel_lines(settings, [])
    assert "  sms       off  TWILIO_ACCOUNT_SID is not an account SID (AC and 32 hex digits, from the Twilio console): " \
           "WhatsApp and SMS are off" in lines
    assert not any("my-account" in line for line in lines)
