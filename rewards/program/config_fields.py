"""Reading one table of the program file: typed getters that refuse a wrong value with
``ConfigError`` naming the file, the table/key path and the reason.

Used by ``rewards.program.config`` only; it knows TOML values, not the program's rules.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel.numbers import list_currencies

from rewards.errors import ConfigError
from rewards.inputs import ascii_decimal

MISSING: Any = object()  # "the key is absent", distinct from any value TOML can hold
_HOURS = re.compile(r"([0-9]{1,2}):([0-9]{2})\s*-\s*([0-9]{1,2}):([0-9]{2})")  # ASCII: \d takes "０９"


def describe(value: Any) -> str:
    """What a merchant wrote, in words: ``the string "x"``, ``a boolean (true)``..."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, str):
        return f'the string "{value}"'
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, datetime):
        return f"the date-time {value.isoformat()}"
    if isinstance(value, date):
        return f"the date {value.isoformat()}"
    return {dict: "a table", list: "a list"}.get(type(value), type(value).__name__)


def suggestion(word: str, options: Iterable[str], shown: str = '"{}"') -> str:
    """``; did you mean "x"?`` for the closest option, or nothing when none is close."""
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"; did you mean {shown.format(close[0])}?" if close else ""


class Table:
    """One TOML table being read: every key asked for is remembered, so ``finish`` can
    refuse whatever is left as unknown (a typo must not silently fall back to a default)."""

    def __init__(self, source: str, where: str, data: Any) -> None:
        self.source, self.where = source, where
        if not isinstance(data, dict):
            self.fail(None, f"must be a table, got {describe(data)}")
        self.data: dict[str, Any] = data
        self.known: list[str] = []

    def fail(self, key: str | None, reason: str) -> NoReturn:
        raise ConfigError(f"{self.source}: {self.where}{' ' + key if key else ''}: {reason}")

    def take(self, key: str, required: bool = False) -> Any:
        """The raw value, or ``MISSING``; no type check."""
        self.known.append(key)
        if key not in self.data:
            if required:
                self.fail(key, "is required")
            return MISSING
        return self.data[key]

    def string(self, key: str, default: Any = None, *, required: bool = False) -> Any:
        value = self.take(key, required)
        if value is MISSING:
            return default
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"must be a non-empty string, got {describe(value)}")
        return value.strip()

    def integer(self, key: str, default: Any = None, *, minimum: int = 0, maximum: int | None = None,
                required: bool = False) -> Any:
        value = self.take(key, required)
        if value is MISSING:
            return default
        # TOML true is not 1: bool is an int subclass in Python, so refuse it by name.
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be a whole number, got {describe(value)}")
        if value < minimum:
            self.fail(key, f"must be at least {minimum} (got {value})")
        if maximum is not None and value > maximum:
            self.fail(key, f"must be at most {maximum:,} (got {value:,})")
        return value

    def decimal(self, key: str, default: str, *, positive: bool = False) -> Decimal:
        value = self.take(key)
        if value is MISSING:
            return Decimal(default)
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            self.fail(key, f"must be a number, got {describe(value)}")
        try:
            # via str: the float 0.1 becomes Decimal("0.1"), not its binary approximation
            number = ascii_decimal(str(value).strip())
        except InvalidOperation:
            self.fail(key, f'must be a number, got "{value}"')
        if not number.is_finite():
            self.fail(key, f"must be a finite number (got {value})")
        if number < 0 or (positive and number == 0):
            self.fail(key, f"must be {'more than' if positive else 'at least'} 0 (got {value})")
        return number

    def choice(self, key: str, options: tuple[str, ...], default: Any = None, *, required: bool = False) -> Any:
        value = self.take(key, required)
        if value is MISSING:
            return default
        if value not in options:
            got = f'"{value}"' if isinstance(value, str) else describe(value)
            self.fail(key, f"must be one of {', '.join(options)} (got {got})")
        return value

    def day(self, key: str) -> date | None:
        value = self.take(key)
        if value is MISSING:
            return None
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        elif isinstance(value, date) and not isinstance(value, datetime):
            return value
        self.fail(key, f"must be a date like 2026-12-31, got {describe(value)}")

    def currency(self, key: str) -> str:
        """A required ISO 4217 code that Babel knows (so amounts can be formatted)."""
        code: str = self.string(key, required=True)
        known = list_currencies()
        if code not in known:
            hint = f'; did you mean "{code.upper()}"?' if code.upper() in known else ""
            self.fail(key, f'must be an ISO 4217 code like USD or EUR (got "{code}"){hint}')
        return code

    def timezone(self, key: str) -> str:
        """A required IANA time zone name that ``zoneinfo`` can load."""
        zone: str = self.string(key, required=True)
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # only on failure: listing every zone reads the whole tz database
            by_case = {z.lower(): z for z in available_timezones()}
            hint = f'; did you mean "{by_case[zone.lower()]}"?' if zone.lower() in by_case else ""
            self.fail(key, f'must be a time zone name like America/New_York (got "{zone}"){hint}')
        return zone

    def hours(self, key: str) -> tuple[time, time] | None:
        """An optional ``"HH:MM-HH:MM"`` range; it may wrap midnight ("21:00-09:00")."""
        text = self.string(key)
        if text is None:
            return None
        match = _HOURS.fullmatch(text)
        try:
            if not match:
                raise ValueError(text)
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            start, end = time(h1, m1), time(h2, m2)
        except ValueError:
            self.fail(key, f'must look like "21:00-09:00", 24-hour clock (got "{text}")')
        if start == end:
            self.fail(key, f'start and end are the same time (got "{text}")')
        return start, end

    def finish(self) -> None:
        for key in self.data:
            if key not in self.known:
                self.fail(key, "is not a known key" + suggestion(key, self.known))
