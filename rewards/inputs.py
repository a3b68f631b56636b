"""Input a database and this code can take: text without characters no database stores,
numbers written in ASCII digits, and row ids within the id column's range.

Every surface (API, CLI, chat) hands user input to the domain; these checks let the domain
refuse it with ``InvalidInput`` naming the field, instead of a driver error (a 500) at flush.

- Text: PostgreSQL refuses NUL in text; no driver encodes a lone UTF-16 surrogate
  (``"\\ud800"``, which a JSON escape produces) as UTF-8.
- Digits: Python's ``int()``, ``Decimal()``, ``str.isdigit()`` and ``re``'s ``\\d`` all take
  Arabic-Indic ("١٢") and full-width ("１２") digits, and ``"²".isdigit()`` is True though
  ``int("²")`` fails; an amount, a time or a program-file number is ASCII here, so what a
  till or a merchant typed is never read as a number they did not see.
- A customer's chat words are the one deliberate exception: ``digits_as_ascii`` writes every
  decimal digit of any script as 0-9 before the bot reads them (someone on an Arabic
  keyboard typing "١" after a menu means 1). Superscripts, fractions and circled numbers
  ("²", "½", "①") are no digits and stay as they are.
- Ids: primary keys are 32-bit integers on PostgreSQL; a larger number is simply no row.
"""
from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from rewards.errors import InvalidInput

MAX_ID = 2**31 - 1  # INTEGER primary keys on PostgreSQL (SQLite's are wider; none gets this far)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_ID = re.compile(r"[0-9]{1,10}", re.ASCII)


def unstorable(value: str) -> str | None:
    """What in ``value`` no database can store, as a phrase for a message, or None."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    return "a NUL character" if found.group() == "\x00" else "an unpaired surrogate (broken UTF-16)"


def storable_text(field: str, value: str) -> str:
    """``value`` unchanged, or ``InvalidInput`` naming ``field`` when a database cannot store it."""
    problem = unstorable(value)
    if problem is not None:
        raise InvalidInput.about(field, f": contains {problem}; send plain UTF-8 text")
    return value


def cleaned_text(value: str) -> str:
    """``value`` made storable: NUL dropped, each lone surrogate replaced by U+FFFD. For what a
    provider delivers from a customer, who is better answered than refused."""
    if _UNSTORABLE.search(value) is None:
        return value
    return _UNSTORABLE.sub(lambda found: "" if found.group() == "\x00" else "\ufffd", value)


def shown(value: object, limit: int = 30) -> str:
    """``value`` as a message may quote it back: at most ``limit`` characters, and any
    character that is not printable (NUL, control characters, a lone surrogate) as "?", so
    an error about bad input does not carry the bad input to the client or the logs."""
    text = str(value)
    cut = text[:limit] + ("..." if len(text) > limit else "")
    return "".join(c if c.isprintable() and not "\ud800" <= c <= "\udfff" else "?" for c in cut)


def ascii_digits(text: str) -> bool:
    """``text`` is one or more of 0-9 (``str.isdigit`` says yes to "١٢" and "²" too)."""
    return text.isascii() and text.isdigit()


def ascii_decimal(text: str) -> Decimal:
    """``Decimal(text)`` for a number written in ASCII; ``InvalidOperation`` otherwise, as
    for any text that is no number (``Decimal()`` itself reads "５.００" as 5.00)."""
    if not text.isascii():
        raise InvalidOperation(text)
    return Decimal(text)


def digits_as_ascii(text: str) -> str:
    """``text`` with every decimal digit (Unicode category Nd: "١٢", "۱۲", "１２", "१२")
    written as ASCII 0-9; everything else unchanged. For a customer's chat words only."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


def row_id(value: object) -> int | None:
    """A positive row id written in ASCII digits, or None (no row can have it)."""
    text = str(value).strip()
    if not _ID.fullmatch(text):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None
