"""Quick answers: a member asking for their balance, answered without the ORM.

"balance" (or the menu's number for it, or its button) is what members send most, and a
webhook answers it inside one transaction. Loading the identity, member, program and tiers
as ORM objects and tracking them cost several times the SQL itself, so this answer reads
plain rows (one statement for the identity, member and program, one for the ledger
figures; the tiers come with the program's rules) and writes what ``respond`` would write:
the identity seen, its menu if it changed, the member's activity. The reply comes from the
same view (``views.show_balance``).

Only when nothing else could happen: a member (not deleted) with no open question, whose
words mean "balance". Everything else, or any doubt, returns None and takes the full road
(``bot.handler.respond``); tests hold the two to the same replies and rows.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot import views
from bot.handler import Handled, menu_after, words_of
from bot.i18n import translator
from bot.intents import match
from bot.messages import IncomingMessage
from bot.turn import Voice
from rewards import members
from rewards.program.programs import config_for
from rewards.standing import standing_of

QUICK_INTENTS = ("balance",)


def answer(session: Session, message: IncomingMessage, now: datetime) -> Handled | None:
    """The quick answer to ``message``, or None when it needs the full road."""
    found = members.contact(session, message.program_id, message.channel, message.address)
    if found is None or found.member_id is None or found.balance is None or found.deleted or found.flow is not None:
        return None
    intent = match(words_of(message), found.menu)
    if intent.name not in QUICK_INTENTS or intent.language not in (None, found.language):
        return None  # words in another language than the member's may get the language offer
    config = config_for(session, message.program_id, found.program_loaded_at)
    members.mark_seen(session, found.identity_id, now)
    voice = Voice(config, translator(found.language))
    views.show_balance(voice, standing_of(session, config, found.member_id, found.balance, now))
    menu = menu_after(voice.replies, found.menu)
    if menu != found.menu:
        members.set_menu(session, found.identity_id, menu)
    members.touch(session, message.program_id, found.member_id, now, config.timezone)
    return Handled(voice.replies, [], found.member_id)
