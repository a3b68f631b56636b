"""Carrier keywords on phone-number channels (WhatsApp, SMS): STOP, START and HELP.

Only a whole message is a keyword ("STOP" stops everything on that number; "stop
promotions" is the core's marketing opt-out). Keywords are matched in every shipped language
at once, like intents, and ``keyword`` reports which language's words matched. The texts
here answer them: short enough for one SMS segment, naming the brand, how often messages
come, that rates may apply and how to stop (the carriers' rules for HELP).

Pure: no database, no provider. The channel decides when each is sent.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from bot.i18n import SUPPORTED, Translator, translator
from bot.intents import normalize, suggestions
from bot.messages import Reply

STOP, START, HELP = "stop", "start", "help"
SEGMENT = 160  # one GSM-7 SMS segment


@dataclass(frozen=True, slots=True)
class Keyword:
    name: str  # STOP, START or HELP
    word: str  # as normalized ("stopall", "baja")
    language: str | None  # None when the word belongs to several languages


def _keyword_lists(t: Translator) -> list[tuple[str, str]]:
    # Each call stays literal so ``pybabel extract`` finds it.
    return [
        # Translators: carrier keywords that stop ALL messages to the customer's number:
        # whole messages only, separated by "|", case and accents ignored. The English words
        # always work too, so add only your language's usual ones.
        (STOP, t.pgettext("carrier keyword", "stop|stopall|unsubscribe|cancel|end|quit|optout|revoke")),
        # Translators: carrier keywords that resume messages after a stop (see "stop|...").
        (START, t.pgettext("carrier keyword", "start|yes|unstop")),
        # Translators: carrier keywords asking who is texting and how to stop (see "stop|...").
        (HELP, t.pgettext("carrier keyword", "help|info")),
    ]


@cache
def _table() -> dict[str, tuple[str, frozenset[str]]]:
    """Normalized keyword -> (name, languages it belongs to)."""
    found: dict[tuple[str, str], set[str]] = {}
    for lang in SUPPORTED:
        for name, words in _keyword_lists(translator(lang)):
            for word in words.split("|"):
                if normalize(word):
                    found.setdefault((normalize(word), name), set()).add(lang)
    table: dict[str, tuple[str, frozenset[str]]] = {}
    for (word, name), langs in found.items():
        # A word claimed by two keywords in different languages: the earlier (STOP) wins,
        # so a word can never resume what someone meant to stop.
        table.setdefault(word, (name, frozenset(langs)))
    return table


def keyword(text: str) -> Keyword | None:
    """The carrier keyword ``text`` is, as a whole message, or None."""
    word = normalize(text or "")
    found = _table().get(word) if word else None
    if found is None:
        return None
    name, langs = found
    return Keyword(name, word, next(iter(langs)) if len(langs) == 1 else None)


def help_reply(t: Translator, program: str, offers_per_week: int) -> Reply:
    """Who is texting, how often, that rates may apply and how to stop; then as many
    command words as still fit one SMS segment."""
    if offers_per_week > 0:
        text = t.gettext(
            "{program}: msg frequency varies, offers at most {n}/week. Msg&data rates may apply. Reply STOP to opt out.",
            program=program, n=offers_per_week,
        )
    else:
        text = t.gettext(
            "{program}: msg frequency varies, no offers. Msg&data rates may apply. Reply STOP to opt out.",
            program=program,
        )
    words = suggestions(t.language)[:3]
    while words:
        longer = text + " " + t.gettext("Try: {words}.", words=", ".join(words))
        if len(longer) <= SEGMENT:
            return Reply(longer)
        words.pop()
    return Reply(text)


def stopped_reply(t: Translator, program: str) -> Reply:
    return Reply(t.gettext(
        "You're unsubscribed from {program} and will get no more messages here. Reply START to resume.",
        program=program,
    ))


def resumed_reply(t: Translator, program: str) -> Reply:
    return Reply(t.gettext(
        "You're subscribed to {program} messages again. Reply HELP for help, STOP to opt out.",
        program=program,
    ))
