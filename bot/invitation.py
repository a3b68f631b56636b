"""The sign-up question: what a newcomer reads before joining, and the one message a cashier's
"enrol this phone" sends (the till, web/console/pos.py).

Both ask the same thing in the same words and open the same ``join`` flow on the identity,
so the customer's "yes" (or "1", or the button) is read by bot/handler.py exactly as when
they wrote first: consent is theirs, given on their own phone.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.i18n import Translator, translator
from bot.messages import Button, Reply
from rewards import erased_contacts
from rewards.models import Identity, Program
from rewards.program.config import ProgramConfig

JOIN = "join"  # the flow's name on the identity
# The till's question stays open a day: the customer may answer once home. After that their
# "yes" gets the question again (bot/handler.py), never a silent sign-up.
TILL_QUESTION_HOURS = 24


def yes_no(t: Translator) -> tuple[Button, Button]:
    return (Button(t.gettext("Yes"), "yes"), Button(t.gettext("No"), "no"))


def welcome_lines(t: Translator, program: Program, config: ProgramConfig, *, returning: bool) -> list[str]:
    """The program in two lines, the join bonus unless this contact was a member who deleted
    their data (members.join pays them none), and the consent question."""
    earning = config.earning
    lines = [t.gettext("Welcome to {program} rewards!", program=program.name)]
    lines.append(t.gettext("Earn {points} points per {unit} spent and swap them for rewards.",
                           points=t.format_number(earning.points_per_unit),
                           unit=t.format_currency(1, program.currency)))
    if earning.join_bonus and not returning:
        lines.append(t.gettext("Join now and get {points} points.", points=t.format_number(earning.join_bonus)))
    lines.append(t.gettext("Join and receive occasional offers (say STOP PROMOTIONS anytime)? Reply YES or NO."))
    return lines


def returning_contact(session: Session, program_id: int, identity: Identity, phone: str | None) -> bool:
    return erased_contacts.any_erased(session, program_id, (
        phone, erased_contacts.address_key(identity.channel, identity.address)))


def ask_to_join(
    session: Session, program: Program, config: ProgramConfig, identity: Identity, phone: str, now: datetime,
) -> Reply:
    """Open the sign-up question on ``identity`` for ``phone`` (a cashier typed it) and return
    the message that asks it, in the identity's language or the program's."""
    t = translator(identity.language or config.default_language)
    identity.flow = JOIN
    identity.flow_data = {"phone": phone}
    identity.flow_expires_at = now + timedelta(hours=TILL_QUESTION_HOURS)
    buttons = yes_no(t)
    identity.menu = {str(i): b.payload for i, b in enumerate(buttons, 1)}  # "1" is yes, as after any menu
    text = " ".join(welcome_lines(t, program, config, returning=returning_contact(session, program.id, identity, phone)))
    return Reply(text, buttons, kind="notice", hint=t.gettext("Reply with a number."))
