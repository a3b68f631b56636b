"""Offering a member the language they wrote in: an English member who asks "¿cuántos puntos
tengo?" is answered (in English, their setting) and asked, in Spanish, first:
"¿Prefieres español? Responde ES." Answering "ES" switches (``bot.intents`` reads a
language's code alone as choosing it).

Once in a while, not on every message: the time of the last offer is kept on the member
(``Member.language_offered_at``), so a member who keeps their setting is asked again only
after ``PERIOD``. Only when the words clearly belong to one language the program offers,
never in the middle of a question (an open flow), and never for words that are themselves
an answer or a language choice.
"""
from __future__ import annotations

from datetime import timedelta

from babel import Locale

from bot.i18n import SUPPORTED, translator
from bot.intents import Intent
from bot.messages import Reply
from bot.turn import Turn

PERIOD = timedelta(days=30)
# Words that answer a question, choose a language or mean nothing: no offer after them.
_NOT_AFTER = frozenset({"language", "yes", "no", "unknown"})


def offer_switch(turn: Turn, intent: Intent) -> None:
    """Put the offer before the turn's answer (the answer's menu stays the last reply's)."""
    member, wrote = turn.member, intent.language
    if (member is None or wrote is None or wrote == member.language or intent.name in _NOT_AFTER
            or wrote not in SUPPORTED or wrote not in turn.config.languages
            or turn.identity.flow is not None or not turn.replies):
        return
    if member.language_offered_at is not None and turn.now - member.language_offered_at < PERIOD:
        return
    member.language_offered_at = turn.now
    t = translator(wrote)
    name = Locale.parse(wrote).get_display_name(wrote) or wrote
    turn.replies.insert(0, Reply(t.gettext("Prefer {language}? Reply {code}.", language=name, code=wrote.upper())))
