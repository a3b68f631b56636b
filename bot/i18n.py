"""Translations and number/date formatting for the languages the bot speaks.

English is the source language: every msgid is the English text, with ``str.format``
named placeholders (``t.gettext("You have {points} points", points=...)``), never ``%``.
Catalogs are the PO files ``bot/locale/<lang>/LC_MESSAGES/messages.po``; they are read and
compiled in memory the first time a language is used (no .mo files, no build step). Fuzzy
or empty entries fall back to English.

Adding or changing a message, from the repository root:

    python -m bot.i18n update      # extract bot/**.py into bot/locale/messages.pot,
                                   # then merge it into every bot/locale/*/messages.po
    # translate the new (empty or "#, fuzzy") entries in bot/locale/es/LC_MESSAGES/messages.po
    python -m pytest tests/bot/test_i18n.py    # every msgid translated, placeholders match

which runs the two pybabel commands

    pybabel extract --no-wrap --add-comments=Translators: --project=loyalty-bot \\
        -o bot/locale/messages.pot bot
    pybabel update --no-wrap --ignore-obsolete -D messages \\
        -i bot/locale/messages.pot -d bot/locale

A new language: ``python -m bot.i18n init fr`` (``pybabel init``), translate, add it to
``SUPPORTED``. Extraction uses babel's default keywords (``_``, ``gettext``, ``ngettext``,
``pgettext``, ...), so ``turn._("...")`` and ``t.pgettext("intent", "...")`` are found.
"""
from __future__ import annotations

import io
import os
import sys
from datetime import date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date as _format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency as _format_currency
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

SUPPORTED: tuple[str, ...] = ("en", "es")
SOURCE_LANGUAGE = "en"
DOMAIN = "messages"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
POT_FILE = LOCALE_DIR / f"{DOMAIN}.pot"


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def supported(lang: str | None) -> str:
    """The supported language for a tag like "es", "es-MX", "ES_ar"; English otherwise."""
    primary = (lang or "").strip().replace("_", "-").split("-")[0].lower()
    return primary if primary in SUPPORTED else SOURCE_LANGUAGE


class Translator:
    """Texts and formats in one language. Obtain one with ``translator(lang)``."""

    __slots__ = ("language", "locale", "_translations")

    def __init__(self, language: str, translations: NullTranslations) -> None:
        self.language = language
        self.locale = Locale.parse(language)
        self._translations = translations

    def __repr__(self) -> str:
        return f"Translator({self.language!r})"

    def gettext(self, msg: str, **fmt: object) -> str:
        return _fill(self._translations.gettext(msg), msg, self._numbers(fmt))

    def ngettext(self, singular: str, plural: str, n: int, **fmt: object) -> str:
        """``{n}`` is available in both forms, formatted for the language."""
        fmt.setdefault("n", n)
        return _fill(self._translations.ngettext(singular, plural, n), singular if n == 1 else plural,
                     self._numbers(fmt))

    def pgettext(self, context: str, msg: str, **fmt: object) -> str:
        return _fill(self._translations.pgettext(context, msg), msg, self._numbers(fmt))

    def _numbers(self, fmt: dict[str, object]) -> dict[str, object]:
        """Every number given to a message is written as the language writes it ("1.193" in
        Spanish, "1,193" in English), so no caller can forget to. An identifier that only
        looks like a number (a campaign's id) is passed as text."""
        return {key: self.format_number(value) if _is_number(value) else value for key, value in fmt.items()}

    def format_number(self, n: int | float | Decimal) -> str:
        return format_decimal(n, locale=self.locale)

    def format_signed(self, n: int | Decimal) -> str:
        """A change with its sign always shown: "+1,193", "-500" (a history line)."""
        return format_decimal(n, format="+#,##0.##;-#,##0.##", locale=self.locale)

    def format_currency(self, amount: Decimal | int | str, currency: str) -> str:
        return _format_currency(Decimal(str(amount)), currency, locale=self.locale)

    def format_date(self, d: date | datetime, format: str = "medium") -> str:  # noqa: A002 - babel's name
        return _format_date(d, format=format, locale=self.locale)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _fill(text: str, source: str, fmt: dict[str, object]) -> str:
    if not fmt:
        return text
    try:
        return text.format(**fmt)
    except (KeyError, IndexError, ValueError):
        # A broken translation must not cost the customer their answer: say it in English.
        return source.format(**fmt)


@lru_cache(maxsize=64)
def translator(lang: str | None) -> Translator:
    """The translator for ``lang``; an unknown or missing language gets English."""
    language = supported(lang)
    return Translator(language, _load(language))


@cache
def _load(language: str) -> NullTranslations:
    path = po_path(language)
    if language == SOURCE_LANGUAGE or not path.exists():
        return NullTranslations()
    return compile_po(path, language)


def compile_po(path: Path, language: str, domain: str = DOMAIN) -> Translations:
    """A PO file compiled in memory; fuzzy entries are left out, so they read as English.
    (The console's catalog, domain "console", is read the same way: web/console/words.py.)"""
    with path.open("rb") as fp:
        catalog = read_po(fp, locale=language, domain=domain)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer, domain=domain)


def catalog_command(argv: list[str], *, module: str, domain: str, pot: str, locale_dir: str,
                    extract: tuple[str, ...]) -> int:
    """``python -m <module> extract|update|init LANG``: the pybabel commands with one
    catalog's paths (relative to the repository root, the working directory, so the .pot's
    locations stay portable); ``extract`` is what extraction reads and how. The bot's
    catalog (``main`` below) and the console's (web/console/translate.py) both run it."""
    from babel.messages.frontend import CommandLineInterface

    def pybabel(*args: str) -> None:
        CommandLineInterface().run(["pybabel", "-q", *args])

    os.chdir(LOCALE_DIR.parent.parent)
    command = argv[0] if argv else ""
    if command in ("extract", "update"):
        pybabel("extract", "--no-wrap", "--add-comments=Translators:", "--project=loyalty-bot", *extract, "-o", pot)
    if command == "update":
        pybabel("update", "--no-wrap", "--ignore-obsolete", "-D", domain, "-i", pot, "-d", locale_dir)
    elif command == "init" and len(argv) == 2:
        pybabel("init", "--no-wrap", "-D", domain, "-i", pot, "-d", locale_dir, "-l", argv[1])
    elif command != "extract":
        print(f"usage: python -m {module} extract | update | init LANG", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str]) -> int:
    """``python -m bot.i18n extract|update|init LANG``."""
    return catalog_command(argv, module="bot.i18n", domain=DOMAIN, pot="bot/locale/messages.pot",
                           locale_dir="bot/locale", extract=("bot",))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
