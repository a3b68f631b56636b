"""The program file's ``[staff]`` table: who may use the staff commands in chat.

    [staff]
    telegram = ["123456789"]        # Telegram user ids (a private chat's id is the user's)
    phones = ["+15550000009"]       # E.164 senders on WhatsApp or SMS

Kept apart from ``rewards.program.config`` (which reads the rest of the file) to keep both small.
Pure: no database, no clock; must not import Flask, Telegram, Twilio, ``bot`` or ``channels``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rewards.errors import InvalidInput
from rewards.phones import parse_phone
from rewards.program.config_fields import MISSING, Table, describe

# Telegram user ids are positive integers (up to 52 bits today); negative ids are groups,
# where staff commands are never read.
_TELEGRAM_ID = re.compile(r"[1-9][0-9]{0,19}")
PHONE_CHANNELS = ("whatsapp", "sms")  # channels whose sender number the provider verifies


@dataclass(frozen=True)
class Staff:
    """The allow-list; empty (the default) means nobody has staff commands in chat."""

    telegram: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()

    def allows(self, channel: str, address: str, phone: str | None) -> bool:
        """Whether a message from ``address`` on ``channel`` (with the channel's verified
        ``phone``) comes from staff. The web chat and the terminal never qualify: their
        numbers are typed, not verified."""
        if channel == "telegram":
            return address in self.telegram
        return channel in PHONE_CHANNELS and phone is not None and phone in self.phones


def parse_staff(source: str, data: Any) -> Staff:
    t = Table(source, "[staff]", data)
    telegram = _telegram_ids(t)
    phones = _phones(t)
    t.finish()
    return Staff(telegram, phones)


def staff_from_settings(data: Any) -> Staff:
    """From the JSON stored on the program (absent in settings stored before the table)."""
    data = data or {}
    return Staff(tuple(data.get("telegram") or ()), tuple(data.get("phones") or ()))


def _list(t: Table, key: str, example: str) -> list[Any]:
    value = t.take(key)
    if value is MISSING:
        return []
    if not isinstance(value, list):
        t.fail(key, f"must be a list like {example}, got {describe(value)}")
    return value


def _telegram_ids(t: Table) -> tuple[str, ...]:
    ids: list[str] = []
    for item in _list(t, "telegram", '["123456789"]'):
        # TOML integers are the natural way to write an id; strings are accepted too.
        text = str(item).strip() if isinstance(item, (str, int)) and not isinstance(item, bool) else None
        if text is None or not _TELEGRAM_ID.fullmatch(text):
            t.fail("telegram", f"{describe(item)} is not a Telegram user id: a positive number like 123456789 "
                               "(the bot's log names the chat id of every message)")
        if text in ids:
            t.fail("telegram", f'lists "{text}" twice')
        ids.append(text)
    return tuple(ids)


def _phones(t: Table) -> tuple[str, ...]:
    phones: list[str] = []
    for item in _list(t, "phones", '["+15550000009"]'):
        if not isinstance(item, str):
            t.fail("phones", f"{describe(item)} is not a phone number: write it as a string like \"+15550000009\"")
        if not item.strip().startswith("+"):
            t.fail("phones", f'"{item}" needs its country code, like "+15550000009"')
        try:
            phone = parse_phone(item)
        except InvalidInput as error:
            t.fail("phones", str(error))
        if phone in phones:
            t.fail("phones", f'lists "{phone}" twice')
        phones.append(phone)
    return tuple(phones)
