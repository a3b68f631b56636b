"""The console in Spanish: every word the console's code and templates can show has a
Spanish translation that keeps its placeholders, and a Spanish-speaking user gets the pages
in Spanish.

The words are extracted afresh from the tree under test (web/console, with the mapping of
web/console/locale/babel.cfg, as ``python -m web.console.translate update`` does), so a page
added without translating its words fails here, naming the file and line."""
from __future__ import annotations

import string

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from conftest import sign_in
from test_api import Shop

from web.console.words import DOMAIN, LOCALE_DIR

ROOT = LOCALE_DIR.parent.parent.parent
UPDATE = "run `python -m web.console.translate update`, then translate the new entries of"

Found = dict[str, tuple[str, str | None]]  # msgid -> (where, msgid_plural)


def used_in_console() -> Found:
    """Every msgid web/console can show, extracted as translate.py extracts it."""
    with (LOCALE_DIR / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: Found = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=method_map, options_map=options_map, keywords={**DEFAULT_KEYWORDS, "N_": None},
    ):
        singular, plural = (message[0], message[1]) if isinstance(message, tuple) else (message, None)
        if singular:
            found.setdefault(singular, (f"{filename}:{lineno}", plural))
    return found


def names(text: str) -> set[str]:
    """The str.format field names in ``text`` ("{points}" -> "points")."""
    return {field.split(".")[0].split("[")[0] for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def spanish_catalog():  # type: ignore[no-untyped-def]
    with (LOCALE_DIR / "es" / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as fp:
        return read_po(fp, locale="es", domain=DOMAIN)


def test_the_console_has_words_to_translate() -> None:
    used = used_in_console()
    assert "Activity" in used and "owner" in used  # a template's _() and a Python N_()


def test_every_word_of_the_console_is_in_spanish_with_its_placeholders() -> None:
    catalog = spanish_catalog()
    problems = []
    for msgid, (where, plural) in sorted(used_in_console().items(), key=lambda item: item[1][0]):
        entry = catalog.get(msgid)
        if entry is None:
            problems.append(f"{where}: missing {msgid!r}")
            continue
        forms = list(entry.string) if isinstance(entry.string, (tuple, list)) else [entry.string]
        if entry.fuzzy or not all(form.strip() for form in forms):
            problems.append(f"{where}: {'fuzzy' if entry.fuzzy else 'untranslated'} {msgid!r}")
            continue
        if plural is None:
            if len(forms) != 1 or names(forms[0]) != names(msgid):
                problems.append(f"{where}: {msgid!r} -> {forms[0]!r}: placeholders differ")
            continue
        # ngettext gives {n} to both forms: the singular may say "un" instead of "{n}".
        allowed = names(msgid) | names(plural) | {"n"}
        if len(forms) < 2 or any(not names(form) <= allowed for form in forms) or names(forms[-1]) != names(plural):
            problems.append(f"{where}: {msgid!r} / {plural!r} -> {forms!r}: forms or placeholders differ")
    assert not problems, f"{UPDATE} web/console/locale/es/LC_MESSAGES/console.po:\n" + "\n".join(problems)


def test_the_spanish_catalog_says_no_placeholder_the_code_does_not_fill() -> None:
    """Also for entries of pages still being written: a wrong name would show English."""
    wrong = []
    for entry in spanish_catalog():
        if not entry.id or not entry.string:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        allowed = set().union(*(names(text) for text in ids)) | ({"n"} if len(ids) > 1 else set())
        wrong += [f"{entry.id!r} -> {form!r}" for form in forms if form and not names(form) <= allowed]
    assert not wrong, "\n".join(wrong)


def test_a_spanish_speaking_user_reads_the_console_in_spanish(console: Shop) -> None:
    client = sign_in(console, "owner", language="es")
    page = client.get("/activity").get_data(as_text=True)
    assert '<html lang="es">' in page
    assert "<h1>Actividad</h1>" in page
    assert "Cerrar sesión" in page and "propietario" in page  # the header: sign out, the role
    assert "Sign out" not in page

