"""Catalogs: every message the code can say is translated, placeholders survive translation,
and numbers, money and dates are written the way each language writes them."""
from __future__ import annotations

import string
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po
from babel.support import NullTranslations

from bot.i18n import LOCALE_DIR, POT_FILE, SOURCE_LANGUAGE, SUPPORTED, Translator, compile_po, po_path, supported, translator

BOT_DIR = LOCALE_DIR.parent
TRANSLATED = [lang for lang in SUPPORTED if lang != SOURCE_LANGUAGE]
UPDATE = "run `python -m bot.i18n update`, then translate the new entries"

Key = tuple[str | None, str]  # (context, msgid)


def used_in_code() -> dict[Key, tuple[str, str | None]]:
    """(context, msgid) -> (where, msgid_plural) for every message bot/ can say."""
    found: dict[Key, tuple[str, str | None]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(BOT_DIR), method_map=[("**.py", "python")], keywords=DEFAULT_KEYWORDS
    ):
        singular, plural = (message[0], message[1]) if isinstance(message, tuple) else (message, None)
        if singular:
            found[(context, singular)] = (f"bot/{filename}:{lineno}", plural)
    return found


def names(text: str) -> set[str]:
    """The str.format field names in ``text`` ("{points}" -> "points")."""
    return {
        field.split(".")[0].split("[")[0]
        for _, field, _, _ in string.Formatter().parse(text)
        if field is not None
    }


def catalog(path: Path, lang: str | None = None):  # type: ignore[no-untyped-def]
    with path.open("rb") as fp:
        return read_po(fp, locale=lang)


def test_the_code_says_something_translatable() -> None:
    used = used_in_code()
    assert len(used) > 20
    assert ("intent", "balance|points|how many points|my points|check points") in used


def test_the_template_lists_every_message_in_the_code() -> None:
    template = catalog(POT_FILE)
    missing = [f"{where}: {msgid!r}" for (ctx, msgid), (where, _) in used_in_code().items() if template.get(msgid, ctx) is None]
    assert not missing, f"{UPDATE}:\n" + "\n".join(missing)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_message_in_the_code_is_translated(lang: str) -> None:
    translations = catalog(po_path(lang), lang)
    problems = []
    for (ctx, msgid), (where, _plural) in sorted(used_in_code().items(), key=lambda item: item[1][0]):
        entry = translations.get(msgid, ctx)
        if entry is None:
            problems.append(f"{where}: missing {msgid!r}")
            continue
        forms = list(entry.string) if isinstance(entry.string, (tuple, list)) else [entry.string]
        if entry.fuzzy or not all(form.strip() for form in forms):
            problems.append(f"{where}: {'fuzzy' if entry.fuzzy else 'untranslated'} {msgid!r}")
    assert not problems, f"{lang}: {UPDATE}:\n" + "\n".join(problems)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translations_keep_the_placeholders(lang: str) -> None:
    problems = []
    for entry in catalog(po_path(lang), lang):
        if not entry.id or not entry.string:
            continue
        ids = list(entry.id) if isinstance(entry.id, (tuple, list)) else [entry.id]
        forms = list(entry.string) if isinstance(entry.string, (tuple, list)) else [entry.string]
        expected = set().union(*(names(text) for text in ids))
        for form in forms:
            try:
                got = names(form)
            except ValueError as error:  # an unbalanced "{"
                problems.append(f"{ids[0]!r}: {error}")
                continue
            # a plural form may leave out {n} ("one point"), never invent or drop others
            if got != expected and not (len(ids) > 1 and got <= expected):
                problems.append(f"{ids[0]!r}: {sorted(got)} != {sorted(expected)} in {form!r}")
    assert not problems, "\n".join(problems)


def test_each_catalog_on_disk_is_a_supported_language() -> None:
    on_disk = {path.parent.parent.name for path in LOCALE_DIR.glob("*/LC_MESSAGES/messages.po")}
    assert on_disk == set(TRANSLATED)


@pytest.mark.parametrize(
    "asked, got",
    [("es", "es"), ("es-MX", "es"), ("ES_ar", "es"), ("en", "en"), ("en-GB", "en"), ("fr", "en"), ("", "en"), (None, "en")],
)
def test_unknown_languages_fall_back_to_english(asked: str | None, got: str) -> None:
    assert supported(asked) == got
    assert translator(asked).language == got


def test_spanish_and_english_texts() -> None:
    es, en = translator("es"), translator("en")
    assert es.gettext("You have {points} points. Tier: {tier}.", points="50", tier="Oro") == "Tienes 50 puntos. Nivel: Oro."
    assert en.gettext("You have {points} points. Tier: {tier}.", points="50", tier="Gold") == "You have 50 points. Tier: Gold."
    assert translator("fr").gettext("Welcome back!") == "Welcome back!"
    assert es.pgettext("intent", "no|n|nope|cancel|no thanks") == "no|cancelar|no gracias"
    assert en.pgettext("intent", "no|n|nope|cancel|no thanks") == "no|n|nope|cancel|no thanks"


def test_a_message_nobody_translated_reads_in_english() -> None:
    assert translator("es").gettext("Not in any catalog, {name}.", name="Ana") == "Not in any catalog, Ana."


def test_plurals_get_n_formatted_for_the_language() -> None:
    en = translator("en")
    assert en.ngettext("{n} point", "{n} points", 1) == "1 point"
    assert en.ngettext("{n} point", "{n} points", 1500) == "1,500 points"
    assert translator("es").ngettext("{n} point", "{n} points", 1234567) == "1.234.567 points"


def test_spanish_numbers_money_and_dates() -> None:
    es = translator("es")
    assert es.format_number(1234567) == "1.234.567"
    assert es.format_number(Decimal("2.5")) == "2,5"
    assert es.format_currency(Decimal("12345.5"), "EUR") == "12.345,50\xa0€"
    assert es.format_currency(Decimal("3"), "EUR") == "3,00\xa0€"
    assert es.format_date(date(2026, 5, 14)) == "14 may 2026"
    assert es.format_date(date(2026, 5, 14), format="d 'de' MMMM") == "14 de mayo"


def test_english_numbers_money_and_dates() -> None:
    en = translator("en")
    assert en.format_number(1234567) == "1,234,567"
    assert en.format_currency(Decimal("1234.5"), "USD") == "$1,234.50"
    assert en.format_currency(1, "USD") == "$1.00"
    assert en.format_date(date(2026, 5, 14)) == "May 14, 2026"
    assert en.format_date(date(2026, 5, 14), format="d MMMM") == "14 May"


def test_fuzzy_entries_are_not_used(tmp_path: Path) -> None:
    po = tmp_path / "messages.po"
    po.write_text(
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "Hello"\nmsgstr "Hola"\n\n'
        '#, fuzzy\nmsgid "Goodbye"\nmsgstr "Adiós"\n',
        encoding="utf-8",
    )
    t = Translator("es", compile_po(po, "es"))
    assert t.gettext("Hello") == "Hola"
    assert t.gettext("Goodbye") == "Goodbye"


def test_a_broken_translation_falls_back_to_english() -> None:
    class Broken(NullTranslations):
        def gettext(self, message: str) -> str:
            return "Tienes {puntos} puntos"

    t = Translator("es", Broken())
    assert t.gettext("You have {points} points", points="7") == "You have 7 points"


def test_text_without_values_is_not_formatted() -> None:
    assert translator("en").gettext("Use {braces} freely") == "Use {braces} freely"
