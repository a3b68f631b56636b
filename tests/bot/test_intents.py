"""What customers type -> which intent, read as tables of English and Spanish inputs."""
from __future__ import annotations

import pytest

from bot.i18n import SUPPORTED
from bot.intents import PRIORITY, SUGGESTED, Intent, keywords, match, normalize, suggestions

MENU = {"1": "balance", "2": "redeem free-coffee", "3": "language es", "4": "yes"}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Balance", "balance"),
        ("  ¡¡Hola,   qué TAL!!  ", "hola que tal"),
        ("¿Cuántos PUNTOS tengo?", "cuantos puntos tengo"),
        ("Español", "espanol"),
        ("/start@LoyaltyBot K7QM3XPA", "start k7qm3xpa"),
        ("/balance", "balance"),
        ("redeem free-coffee!", "redeem free-coffee"),
        ("call +1 555-0100 or me@example.com", "call +1 555-0100 or me@examplecom"),
        ("don’t", "dont"),
        ("Straße", "strasse"),
        ("🙂 \u200b \x00", ""),
        ("", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


COMMANDS = [
    # (text, intent, arg, language)
    ("start", "start", None, None),
    ("/start", "start", None, None),
    ("hi", "start", None, "en"),
    ("Hello!", "start", None, "en"),
    ("hola", "start", None, "es"),
    ("Buenos días", "start", None, "es"),
    ("join", "start", None, "en"),
    ("unirme", "start", None, "es"),
    ("JOIN K7QM3XPA", "start", "K7QM3XPA", "en"),
    ("join k7qm-3xpa", "start", "K7QM-3XPA", "en"),
    ("unirme ab12cd34", "start", "AB12CD34", "es"),
    ("I want to join ZZZZZZZZ please", "start", "ZZZZZZZZ", "en"),
    ("join now", "start", None, "en"),
    ("/start K7QM3XPA", "start", "K7QM3XPA", None),
    ("/start@LoyaltyBot ref_k7qm3xpa", "start", "ref_k7qm3xpa", None),
    ("yes", "yes", None, "en"),
    ("Y", "yes", None, "en"),
    ("ok", "yes", None, None),
    ("Confirm.", "yes", None, "en"),
    ("yes please", "yes", None, "en"),
    ("sí", "yes", None, "es"),
    ("Si", "yes", None, "es"),
    ("vale", "yes", None, "es"),
    ("confirmar", "yes", None, "es"),
    ("no", "no", None, None),
    ("N", "no", None, "en"),
    ("cancel", "no", None, "en"),
    ("No, thanks", "no", None, "en"),
    ("cancelar", "no", None, "es"),
    ("balance", "balance", None, "en"),
    ("POINTS", "balance", None, "en"),
    ("/balance", "balance", None, "en"),
    ("/balance@LoyaltyBot", "balance", None, "en"),
    ("saldo", "balance", None, "es"),
    ("mis puntos", "balance", None, "es"),
    ("rewards", "rewards", None, "en"),
    ("catalog", "rewards", None, "en"),
    ("premios", "rewards", None, "es"),
    ("recompensas", "rewards", None, "es"),
    ("catálogo", "rewards", None, "es"),
    ("catalogo", "rewards", None, "es"),
    ("redeem", "redeem", None, "en"),
    ("redeem 2", "redeem", "2", "en"),
    ("redeem #2.", "redeem", "2", "en"),
    ("redeem free-coffee", "redeem", "free-coffee", "en"),
    ("Redeem Free-Coffee", "redeem", "Free-Coffee", "en"),
    ("canjear 2", "redeem", "2", "es"),
    ("canjear premios", "redeem", None, "es"),
    ("history", "history", None, "en"),
    ("activity", "history", None, "en"),
    ("historial", "history", None, "es"),
    ("movimientos", "history", None, "es"),
    ("invite", "invite", None, "en"),
    ("invite friends", "invite", None, "en"),
    ("referral", "invite", None, "en"),
    ("invitar", "invite", None, "es"),
    ("mi codigo de invitacion", "invite", None, "es"),
    ("Mi código de invitación", "invite", None, "es"),
    ("card", "card", None, "en"),
    ("my card", "card", None, "en"),
    ("member card", "card", None, "en"),
    ("tarjeta", "card", None, "es"),
    ("mi tarjeta", "card", None, "es"),
    ("language", "language", None, "en"),
    ("language es", "language", "es", "en"),
    ("Language: Spanish", "language", "es", "en"),
    ("idioma en", "language", "en", "es"),
    ("idioma inglés", "language", "en", "es"),
    ("language fr", "language", "fr", "en"),
    ("english", "language", "en", "en"),
    ("español", "language", "es", "es"),
    ("espanol", "language", "es", "es"),
    ("birthday", "birthday", None, "en"),
    ("birthday 1990-05-14", "birthday", "1990-05-14", "en"),
    ("birthday 14/05", "birthday", "14/05", "en"),
    ("Birthday: 14 May", "birthday", "14 May", "en"),
    ("my birthday is 14/05", "birthday", "14/05", "en"),
    ("cumpleanos 14/05/1990", "birthday", "14/05/1990", "es"),
    ("cumpleaños 14/05/1990", "birthday", "14/05/1990", "es"),
    ("stop promotions", "optout", None, "en"),
    ("STOP PROMOTIONS", "optout", None, "en"),
    ("no offers", "optout", None, "en"),
    ("unsubscribe promotions", "optout", None, "en"),
    ("optout", "optout", None, "en"),
    ("opt out", "optout", None, "en"),
    ("opt-out", "optout", None, "en"),
    ("no promociones", "optout", None, "es"),
    ("sin ofertas", "optout", None, "es"),
    ("promotions on", "optin", None, "en"),
    ("optin", "optin", None, "en"),
    ("opt in", "optin", None, "en"),
    ("send offers", "optin", None, "en"),
    ("si promociones", "optin", None, "es"),
    ("Sí promociones", "optin", None, "es"),
    ("activar promociones", "optin", None, "es"),
    ("my data", "export", None, "en"),
    ("export", "export", None, "en"),
    ("export my data", "export", None, "en"),
    ("mis datos", "export", None, "es"),
    ("exportar", "export", None, "es"),
    ("delete my data", "delete", None, "en"),
    ("delete me", "delete", None, "en"),
    ("forget me", "delete", None, "en"),
    ("borrar mis datos", "delete", None, "es"),
    ("eliminar mis datos", "delete", None, "es"),
    ("borrarme", "delete", None, "es"),
    ("help", "help", None, "en"),
    ("menu", "help", None, None),
    ("?", "help", None, None),
    ("¿?", "help", None, None),
    ("commands", "help", None, "en"),
    ("ayuda", "help", None, "es"),
]


@pytest.mark.parametrize("text, name, arg, language", COMMANDS)
def test_commands(text: str, name: str, arg: str | None, language: str | None) -> None:
    assert match(text) == Intent(name, arg, language)


PLAIN_LANGUAGE = [
    ("how many points do I have?", "balance", None),
    ("How many points do I have", "balance", None),
    ("hi, how many points do I have?", "balance", None),
    ("what's my balance", "balance", None),
    ("I have no points?", "balance", None),
    ("¿cuántos puntos tengo?", "balance", None),
    ("cuantos puntos tengo", "balance", None),
    ("quiero ver mis puntos", "balance", None),
    ("what rewards can I get", "rewards", None),
    ("what can I get?", "rewards", None),
    ("¿qué premios hay?", "rewards", None),
    ("quiero canjear 2", "redeem", "2"),
    ("I want to redeem 2 please", "redeem", "2"),
    ("can I use my points?", "redeem", None),
    ("show me my history", "history", None),
    ("I want to invite a friend", "invite", None),
    ("quiero invitar a un amigo", "invite", None),
    ("I don't want promotions anymore", "optout", None),
    ("no quiero promociones", "optout", None),
    ("quiero promociones", "optin", None),
    ("please delete my data", "delete", None),
    ("what can you do?", "help", None),
    ("Hola, ayuda por favor", "help", None),
    ("cambiar idioma a inglés", "language", "en"),
    ("do you speak spanish?", "language", "es"),
    ("I said no", "no", None),
    ("ok, cancel that", "no", None),  # a cancel beats a yes: it changes nothing
]


@pytest.mark.parametrize("text, name, arg", PLAIN_LANGUAGE)
def test_plain_language(text: str, name: str, arg: str | None) -> None:
    got = match(text)
    assert (got.name, got.arg) == (name, arg)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1", Intent("balance")),
        ("2", Intent("redeem", "free-coffee")),
        ("2.", Intent("redeem", "free-coffee")),
        (" #2 ", Intent("redeem", "free-coffee")),
        ("2)", Intent("redeem", "free-coffee")),
        ("3", Intent("language", "es")),
        ("4", Intent("yes")),
        ("01", Intent("balance")),
        ("5", Intent("unknown")),
        ("0", Intent("unknown")),
        ("1990", Intent("unknown")),
        ("saldo", Intent("balance", None, "es")),  # words still work with a menu
    ],
)
def test_menu_numbers(text: str, expected: Intent) -> None:
    """A number picks from the last menu; it tells nothing about the language."""
    assert match(text, MENU) == expected


@pytest.mark.parametrize("text", ["1", "2", "2.", "#3"])
def test_a_number_without_a_menu_means_nothing(text: str) -> None:
    assert match(text) == Intent("unknown")
    assert match(text, {}) == Intent("unknown")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "purple elephants",
        "asdfgh",
        "🙂🙂",
        "\u200b\u202e\x00",
        "14/05/1990",  # a date alone: the birthday flow reads it, not the matcher
        "quiero café y pan",  # "y" inside a sentence is "and", never "yes"
        "the balloon",  # whole words only: "balloon" is not "ball..."
        "this is history-ish",
        "hint",
        "no" * 50,
    ],
)
def test_unknown_inputs(text: str) -> None:
    assert match(text) == Intent("unknown")


@pytest.mark.parametrize(
    "text",
    ["please confirm", "I'm not sure yes", "quiero café y pan", "la cuenta, sí"],
)
def test_yes_only_counts_at_the_start(text: str) -> None:
    """A stray word must never confirm a redemption or a deletion."""
    assert match(text).name != "yes"


def test_no_phrase_belongs_to_two_intents() -> None:
    owners: dict[str, set[str]] = {}
    for lang in SUPPORTED:
        for intent, phrases in keywords(lang).items():
            for phrase in phrases:
                owners.setdefault(normalize(phrase), set()).add(intent)
    clashes = {phrase: sorted(intents) for phrase, intents in owners.items() if len(intents) > 1}
    assert not clashes


def test_every_intent_has_keywords_in_every_language() -> None:
    for lang in SUPPORTED:
        table = keywords(lang)
        assert set(table) == set(PRIORITY), lang
        assert all(table.values()), lang


def test_spanish_keywords_come_from_the_catalog() -> None:
    assert keywords("es")["balance"] == ["saldo", "puntos", "cuantos puntos", "mis puntos", "ver puntos"]
    assert keywords("xx") == keywords("en")


@pytest.mark.parametrize(
    "lang, expected",
    [
        ("en", ["balance", "rewards", "invite", "history", "card", "birthday", "language", "help"]),
        ("es", ["saldo", "premios", "invitar", "historial", "tarjeta", "cumpleaños", "idioma", "ayuda"]),
        ("fr", ["balance", "rewards", "invite", "history", "card", "birthday", "language", "help"]),
    ],
)
def test_suggestions(lang: str, expected: list[str]) -> None:
    assert suggestions(lang) == expected
    assert len(suggestions(lang)) == len(SUGGESTED)


@pytest.mark.parametrize("lang", SUPPORTED)
def test_every_suggestion_is_understood(lang: str) -> None:
    for word, name in zip(suggestions(lang), SUGGESTED, strict=True):
        assert match(word).name == name


def test_matching_is_deterministic_and_survives_long_input() -> None:
    text = "hello " * 500 + "how many points"
    assert match(text) == match(text) == Intent("balance", None, "en")
