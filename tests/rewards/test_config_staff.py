"""The program file's [staff] allow-list: what loads, and every wrong entry refused by key."""
from __future__ import annotations

from pathlib import Path

import pytest

from rewards.errors import ConfigError
from rewards.program.config import DEMO_PROGRAM_PATH, from_settings, load_program_file, to_settings
from rewards.program.config_staff import Staff

DEMO = DEMO_PROGRAM_PATH.read_text(encoding="utf-8")


def load(tmp_path: Path, staff: str) -> object:
    path = tmp_path / "program.toml"
    path.write_text(DEMO + "\n[staff]\n" + staff + "\n", encoding="utf-8")
    return load_program_file(path)


def test_no_staff_table_means_nobody_is_staff() -> None:
    config = load_program_file(DEMO_PROGRAM_PATH)
    assert config.staff == Staff()
    assert not config.staff.allows("telegram", "123456789", None)


def test_telegram_ids_as_numbers_or_strings_and_phones_in_e164(tmp_path: Path) -> None:
    config = load(tmp_path, 'telegram = [123456789, "987654321"]\nphones = ["+1 555 000 0009"]')
    assert config.staff == Staff(("123456789", "987654321"), ("+15550000009",))
    assert from_settings(to_settings(config)) == config  # stored on the program and read back


def test_settings_stored_before_the_table_existed_still_load(tmp_path: Path) -> None:
    settings = to_settings(load_program_file(DEMO_PROGRAM_PATH))
    del settings["staff"]
    assert from_settings(settings).staff == Staff()


def test_who_counts_as_staff() -> None:
    staff = Staff(("123456789",), ("+15550000009",))
    assert staff.allows("telegram", "123456789", None)
    assert not staff.allows("telegram", "5550000009", "+15550000009")  # a shared contact is no staff id
    assert staff.allows("whatsapp", "whatsapp:+15550000009", "+15550000009")
    assert staff.allows("sms", "+15550000009", "+15550000009")
    # The web chat and the terminal take a typed number on trust: never staff.
    assert not staff.allows("web", "browser-1", "+15550000009")
    assert not staff.allows("terminal", "+15550000009", "+15550000009")


@pytest.mark.parametrize(("staff", "message"), [
    ('telegram = ["@cashier"]', '[staff] telegram: the string "@cashier" is not a Telegram user id'),
    ("telegram = [-100123]", "[staff] telegram: the number -100123 is not a Telegram user id"),
    ("telegram = [true]", "[staff] telegram: a boolean (true) is not a Telegram user id"),
    ('telegram = "123456789"', '[staff] telegram: must be a list like ["123456789"], got the string "123456789"'),
    ('telegram = [1, "1"]', '[staff] telegram: lists "1" twice'),
    ('phones = ["5550000009"]', '[staff] phones: "5550000009" needs its country code'),
    ('phones = ["+1555"]', '[staff] phones: "+1555" has the wrong number of digits'),
    ("phones = [15550000009]", "[staff] phones: the number 15550000009 is not a phone number"),
    ('phones = ["+15550000009", "+1 555 000 0009"]', '[staff] phones: lists "+15550000009" twice'),
    ('telegam = ["1"]', '[staff] telegam: is not a known key; did you mean "telegram"?'),
])
def test_a_wrong_staff_entry_is_refused_naming_the_key(tmp_path: Path, staff: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(tmp_path, staff)
    assert str(error.value).startswith("program.toml: " + message), str(error.value)


def test_staff_must_be_a_table(tmp_path: Path) -> None:
    path = tmp_path / "program.toml"
    path.write_text('staff = "everyone"\n' + DEMO, encoding="utf-8")  # a top-level key, not a table
    with pytest.raises(ConfigError, match=r'^program.toml: \[staff\]: must be a table, got the string "everyone"'):
        load_program_file(path)
