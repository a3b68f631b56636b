"""The console's words and formats in the signed-in user's language.

English is the source; Spanish comes from ``web/console/locale/es/LC_MESSAGES/console.po``,
a Babel catalog read like the bot's (``bot.i18n``: compiled in memory, fuzzy or empty
entries read as English). ``_("{n} members", n=3)`` fills named placeholders and writes
numbers as the language does. A label kept in a table and translated when drawn is marked
``N_("Members")`` so that extraction finds it.

Adding or changing words, from the repository root:

    python -m web.console.translate update   # extract web/console (Python and templates) into
                                         # web/console/locale/console.pot, merge into es
    # translate the new (empty or "#, fuzzy") entries of web/console/locale/es/LC_MESSAGES/console.po
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_percent
from babel.support import NullTranslations
from flask import g, has_request_context

from bot.i18n import SOURCE_LANGUAGE, Translator, compile_po, supported

DOMAIN = "console"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


@lru_cache(maxsize=8)
def translator(lang: str | None) -> Translator:
    language = supported(lang)
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == SOURCE_LANGUAGE or not path.exists():
        return Translator(language, NullTranslations())
    return Translator(language, compile_po(path, language, DOMAIN))


def current() -> Translator:
    """The translator of this request's user (English outside a request or before sign-in)."""
    return translator(getattr(g, "language", None) if has_request_context() else None)


def N_(msg: str) -> str:
    """Marks a msgid kept for later (a menu label): returned as it is, translated when drawn."""
    return msg


ROLE_NAMES = {"owner": N_("owner"), "manager": N_("manager"), "cashier": N_("cashier")}


def _(msg: str, **fmt: object) -> str:
    return current().gettext(msg, **fmt)


gettext = _


def ngettext(singular: str, plural: str, n: int, **fmt: object) -> str:
    return current().ngettext(singular, plural, n, **fmt)


def number(value: int | float | Decimal | None) -> str:
    return "–" if value is None else current().format_number(value)


def percent(value: float | None) -> str:
    """A share (0.25) as "25%" / "25 %", in the language's way; "–" when undefined."""
    if value is None:
        return "–"
    return format_percent(value, format="#,##0.#%", locale=current().locale)


def money(value: Decimal | int | str | None, currency: str) -> str:
    return "–" if value is None else current().format_currency(value, currency)


def day(value: date | datetime | None) -> str:
    return "–" if value is None else current().format_date(value)


def moment(value: datetime | None, timezone: str) -> str:
    """An instant as the program's wall clock reads it, e.g. "Dec 2, 2026, 6:43 PM"."""
    if value is None:
        return "–"
    return format_datetime(value.astimezone(ZoneInfo(timezone)), format="medium", locale=current().locale)


def supported_language(tag: str | None) -> str:
    return supported(tag)

