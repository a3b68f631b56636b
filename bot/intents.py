"""What a customer's words ask for: commands and plain language, in every shipped language.

Pure functions over text: no database, no replies. The keywords of each intent are
translatable (one msgid per group, context "intent", phrases separated by "|"), and a
message is matched against the keywords of ALL supported languages, so someone whose
settings say English can still type "saldo". ``match`` reports the language whose words
matched (None when the words belong to several languages, or to none, like a number).

How a message is read:
- ``normalize`` it (case, accents and punctuation do not matter), then look for keyword
  phrases as whole words anywhere in it: "how many points do I have?" contains "how many
  points". The longest phrase wins; ties go by ``PRIORITY``, then to the earlier phrase.
- "yes" words count only at the start of the message, and one-letter keywords ("y", "n")
  only as the whole message: a stray word must never confirm a redemption or a deletion.
  A language's code ("es", "en") alone chooses that language (the language offer's answer).
- A bare number ("2", "2.", "#2") picks that entry of the last ``menu``; without a menu it
  means nothing. Numbers are ASCII 0-9: the caller has written any script's digits as
  ASCII already (``bot.turn.words_of``); "²", "½" or "①" are no numbers and get help.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from babel import Locale

from bot.i18n import SUPPORTED, Translator, translator
from rewards.codes import MEMBER_LENGTH
from rewards.codes import normalize as normalize_code

# Ties between equally long phrases go to the earlier name: a request beats a greeting or
# "help", and "no" (which only cancels) beats "yes" (which may spend points or delete data).
PRIORITY = (
    "delete", "export", "optout", "optin", "birthday", "language", "redeem", "invite",
    "card", "history", "rewards", "balance", "help", "start", "no", "yes",
)
# The command words shown by help, in this order (the first keyword of each, translated).
SUGGESTED = ("balance", "rewards", "invite", "history", "card", "birthday", "language", "help")
START_ONLY = frozenset({"yes"})

_COMMAND = re.compile(r"\s*/(\w+)(?:@\w+)?")  # "/start@MyBot" -> "start"
_WORD = re.compile(r"\S+")
_NUMBER = re.compile(r"#?\s*([0-9]{1,3})\s*[.)]?")
_KEPT = frozenset("-@+")
_ARG_TRIM = " \t\r\n:;,.!?¿¡=#\"'"


@dataclass(frozen=True, slots=True)
class Intent:
    name: str
    arg: str | None = None
    language: str | None = None


UNKNOWN = Intent("unknown")


def _keyword_lists(t: Translator) -> list[tuple[str, str | None, str]]:
    """(intent, how the words after it are read, "|"-separated phrases) in ``t``'s language."""
    # Each call stays literal so ``pybabel extract`` finds it.
    return [
        # Translators: intent keywords: phrases separated by "|", matched as whole words
        # anywhere in a message, ignoring case, accents and punctuation. Put the word to
        # show in help first. Do not repeat the English words: both are always matched.
        ("balance", None, t.pgettext(
            "intent", "balance|points|how many points|my points|check points")),
        # Translators: intent keywords (see "balance"): the rewards catalog.
        ("rewards", None, t.pgettext(
            "intent", "rewards|catalog|catalogue|prizes|reward list|what can i get")),
        # Translators: intent keywords (see "balance"): redeem, then a number or reward.
        ("redeem", "redeem", t.pgettext(
            "intent", "redeem|claim|use my points|spend points|spend my points")),
        # Translators: intent keywords (see "balance"): the member's recent activity.
        ("history", None, t.pgettext(
            "intent", "history|activity|my activity|transactions|statement")),
        # Translators: intent keywords (see "balance"): invite friends, the referral code.
        ("invite", None, t.pgettext(
            "intent", "invite|refer|referral|invite friends|invite a friend|refer a friend"
            "|invite code|my invite code|referral link")),
        # Translators: intent keywords (see "balance"): the membership card and its QR.
        ("card", None, t.pgettext(
            "intent", "card|my card|member card|membership card|loyalty card|qr|my qr"
            "|my code|member code")),
        # Translators: intent keywords (see "balance"): change language, then its name.
        ("language", "language", t.pgettext(
            "intent", "language|lang|change language|set language")),
        # Translators: intent keywords (see "balance"): set the birthday, then a date.
        ("birthday", "rest", t.pgettext(
            "intent", "birthday|my birthday|my birthday is|birthday is|bday|date of birth"
            "|birth date")),
        # Translators: intent keywords (see "balance"): stop marketing messages.
        ("optout", None, t.pgettext(
            "intent", "stop promotions|stop offers|no offers|no promotions|no more offers"
            "|no more promotions|unsubscribe|unsubscribe promotions|don't want promotions"
            "|don't want offers|optout|opt out|opt-out")),
        # Translators: intent keywords (see "balance"): get marketing messages again.
        ("optin", None, t.pgettext(
            "intent", "promotions on|offers on|send offers|send promotions|start promotions"
            "|yes promotions|subscribe|optin|opt in|opt-in")),
        # Translators: intent keywords (see "balance"): export the member's personal data.
        ("export", None, t.pgettext(
            "intent", "my data|export|export my data|download my data|my information|my info")),
        # Translators: intent keywords (see "balance"): delete the member's personal data.
        ("delete", None, t.pgettext(
            "intent", "delete my data|delete me|forget me|delete my account|erase my data"
            "|remove my data|close my account")),
        # Translators: intent keywords (see "balance"): help and the list of commands.
        ("help", None, t.pgettext(
            "intent", "help|menu|commands|options|what can you do|how does it work|info")),
        # Translators: intent keywords (see "balance"): greetings that open a conversation.
        ("start", None, t.pgettext(
            "intent", "hi|hello|hey|good morning|good afternoon|good evening")),
        # Translators: intent keywords (see "balance"): join, then maybe an invite code.
        ("start", "code", t.pgettext(
            "intent", "join|sign up|signup|register|join with code")),
        # Translators: intent keywords (see "balance"): yes / confirm. They count only at
        # the start of a message; one-letter words only alone.
        ("yes", None, t.pgettext(
            "intent", "yes|y|ok|okay|confirm|sure|yep|yeah")),
        # Translators: intent keywords (see "balance"): no / cancel.
        ("no", None, t.pgettext(
            "intent", "no|n|nope|cancel|no thanks")),
    ]


def keywords(lang: str) -> dict[str, list[str]]:
    """Each intent's phrases as written in ``lang``'s catalog (English if unknown)."""
    out: dict[str, list[str]] = {}
    for intent, _, phrases in _keyword_lists(translator(lang)):
        out.setdefault(intent, []).extend(p.strip() for p in phrases.split("|") if p.strip())
    return out


def suggestions(lang: str) -> list[str]:
    """The few command words help shows, in ``lang``."""
    table = keywords(lang)
    return [table[name][0] for name in SUGGESTED if table.get(name)]


# --- normalizing ------------------------------------------------------------------------


def _word(raw: str) -> str:
    decomposed = unicodedata.normalize("NFKD", raw.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum() or ch in _KEPT)


def _tokens(text: str) -> list[tuple[str, int, int]]:
    """(normalized word, start, end) for each word of ``text``, offsets into ``text``."""
    out: list[tuple[str, int, int]] = []
    position = 0
    command = _COMMAND.match(text)
    if command:
        out.append((_word(command.group(1)), command.start(1) - 1, command.end()))
        position = command.end()
    for m in _WORD.finditer(text, position):
        word = _word(m.group())
        if word:
            out.append((word, m.start(), m.end()))
    return out


def normalize(text: str) -> str:
    """Casefolded, without accents or punctuation (``-@+`` stay), single spaces; a leading
    "/command@botname" becomes "command"."""
    return " ".join(word for word, _, _ in _tokens(text))


# --- the phrase table -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Phrase:
    words: tuple[str, ...]
    intent: str
    reads: str | None  # how the words after the phrase are read into ``arg``
    arg: str | None  # a fixed arg: "english" is language "en"
    languages: frozenset[str]


@cache
def _language_names() -> dict[str, str]:
    """Normalized names and codes of the supported languages, in each of them -> code."""
    names = {code: code for code in SUPPORTED}
    for code in SUPPORTED:
        for lang in SUPPORTED:
            names[normalize(Locale.parse(code).get_display_name(lang) or code)] = code
    return names


@cache
def _table() -> dict[str, tuple[_Phrase, ...]]:
    """Every phrase of every language, indexed by its first word."""
    found: dict[tuple[tuple[str, ...], str, str | None, str | None], set[str]] = {}
    for lang in SUPPORTED:
        for intent, reads, phrases in _keyword_lists(translator(lang)):
            for phrase in phrases.split("|"):
                words = tuple(normalize(phrase).split())
                if words:
                    found.setdefault((words, intent, reads, None), set()).add(lang)
        for code in SUPPORTED:
            name = tuple(normalize(Locale.parse(code).get_display_name(lang) or "").split())
            if name:
                found.setdefault((name, "language", None, code), set()).add(lang)
    # Telegram's command and deep links: the same word in every language.
    found.setdefault((("start",), "start", "payload", None), set())
    # A language's code alone ("ES", the answer the language offer asks for) chooses it.
    for code in SUPPORTED:
        found.setdefault(((code,), "language", None, code), set())
    table: dict[str, list[_Phrase]] = {}
    for (words, intent, reads, arg), langs in found.items():
        table.setdefault(words[0], []).append(_Phrase(words, intent, reads, arg, frozenset(langs)))
    return {first: tuple(phrases) for first, phrases in table.items()}


# --- matching ---------------------------------------------------------------------------


def match(text: str, menu: Mapping[str, str] | None = None) -> Intent:
    """The intent of ``text``; ``menu`` maps "1".."n" to what the last numbered options meant
    (a text this function reads, like "redeem free-coffee")."""
    number = _NUMBER.fullmatch(text.strip())
    if number:
        choice = menu.get(str(int(number.group(1)))) if menu else None
        if choice is None:
            return UNKNOWN
        chosen = match(choice)
        return Intent(chosen.name, chosen.arg, None)  # digits belong to no language
    tokens = _tokens(text)
    if not tokens:
        bare = text.strip()
        return Intent("help") if bare and set(bare) <= {"?", "¿"} else UNKNOWN
    words = [word for word, _, _ in tokens]
    best: tuple[tuple[int, int, int], _Phrase, int] | None = None
    table = _table()
    for i, word in enumerate(words):
        for phrase in table.get(word, ()):
            n = len(phrase.words)
            if tuple(words[i : i + n]) != phrase.words or not _may_stand(phrase, i, len(words)):
                continue
            key = (n, -PRIORITY.index(phrase.intent), -i)
            if best is None or key > best[0]:
                best = (key, phrase, i)
    if best is None:
        return UNKNOWN
    _, phrase, i = best
    language = next(iter(phrase.languages)) if len(phrase.languages) == 1 else None
    return Intent(phrase.intent, _arg(phrase, text, tokens, i), language)


def _may_stand(phrase: _Phrase, i: int, count: int) -> bool:
    if len(phrase.words) == 1 and (len(phrase.words[0]) == 1 or phrase.words[0] == phrase.arg):
        return count == 1  # "y", "n" and a bare "es" mean something only as the whole message
    return phrase.intent not in START_ONLY or i == 0


def _arg(phrase: _Phrase, text: str, tokens: list[tuple[str, int, int]], i: int) -> str | None:
    after = tokens[i + len(phrase.words) :]
    if phrase.reads is None or (not after and phrase.reads != "language"):
        return phrase.arg
    rest = text[tokens[i + len(phrase.words) - 1][2] :].strip(_ARG_TRIM)
    if phrase.reads == "payload" and text[tokens[i][1]] == "/":
        return text[after[0][1] : after[0][2]]
    if phrase.reads in ("code", "payload"):
        return _invite_code(text[after[0][1] : after[0][2]])
    if phrase.reads == "redeem":
        number = _NUMBER.fullmatch(text[after[0][1] : after[0][2]])  # as typed: NFKD makes "¹" a 1
        if number:
            return number.group(1)
        # "redeem rewards", "canjear puntos": words of another command, not a reward's name
        return None if _is_phrase(tuple(word for word, _, _ in after)) else rest or None
    if phrase.reads == "language":
        names = _language_names()
        known = [names[word] for word, _, _ in after if word in names]
        return known[0] if known else (after[-1][0] if after else None)
    return rest or None


def _is_phrase(words: tuple[str, ...]) -> bool:
    return any(phrase.words == words for phrase in _table().get(words[0], ()))


def _invite_code(raw: str) -> str | None:
    """``raw`` uppercased if it looks like an invite code ("join now" has none)."""
    raw = raw.strip(_ARG_TRIM)
    cleaned = normalize_code(raw)
    if cleaned and (len(cleaned) == MEMBER_LENGTH or any(ch in "0123456789" for ch in raw)):
        return raw.upper()
    return None
