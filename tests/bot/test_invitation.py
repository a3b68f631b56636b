"""A cashier's "enrol this phone" (rewards/enrolment.py, bot/invitation.py): the number gets
the sign-up question on a channel that can reach it, and only the customer's own yes makes a
member."""
from __future__ import annotations

from datetime import timedelta

import pytest
from support import T0

from bot.handler import handle
from bot.invitation import ask_to_join
from bot.messages import IncomingMessage
from channels.base import render_text
from rewards import enrolment, members
from rewards.errors import Refused
from rewards.program.programs import config_of

PHONE = "+15550004444"
MEMBER = "+15550007777"


def invite(sessions, program, phone: str = PHONE, channels=("sms", "web"), template: bool = False):  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        identity = enrolment.address_for(session, program.id, phone, channels, T0, whatsapp_template=template)
        reply = ask_to_join(session, program, config_of(program), identity, phone, T0)
        return identity.channel, render_text(reply, numbered=True, hint=reply.hint)


def answer(sessions, program, text: str, channel: str = "sms", phone: str = PHONE, minutes: int = 5) -> str:  # type: ignore[no-untyped-def]
    message = IncomingMessage(program.id, channel, phone, text, phone=phone)
    with sessions.begin() as session:
        replies = handle(session, message, T0 + timedelta(minutes=minutes))
    return "\n".join(render_text(r, numbered=True, hint=r.hint) for r in replies)


def member_of(sessions, program, phone: str = PHONE):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return members.by_phone(session, program.id, phone)


def test_the_question_goes_by_sms_and_the_customers_yes_joins_them(sessions, program) -> None:  # type: ignore[no-untyped-def]
    channel, text = invite(sessions, program)
    assert channel == "sms"
    assert "Welcome to Bean There Coffee rewards!" in text and "Join now and get 50 points." in text
    assert "Reply YES or NO" in text and "1) Yes" in text
    assert member_of(sessions, program) is None  # the cashier's tap makes no member
    joined = answer(sessions, program, "1")  # the menu's first option, as on any numbered question
    member = member_of(sessions, program)
    assert member is not None and member.balance == 50 and f"member code is {member.code}" in joined


def test_no_leaves_them_out(sessions, program) -> None:  # type: ignore[no-untyped-def]
    invite(sessions, program)
    assert "Send JOIN whenever" in answer(sessions, program, "no")
    assert member_of(sessions, program) is None


def test_a_yes_after_a_day_asks_again_rather_than_joining(sessions, program) -> None:  # type: ignore[no-untyped-def]
    invite(sessions, program)
    late = answer(sessions, program, "yes", minutes=25 * 60)
    assert "Reply YES or NO" in late and member_of(sessions, program) is None


def test_whatsapp_only_where_the_number_wrote_recently(sessions, program) -> None:  # type: ignore[no-untyped-def]
    channels = ("whatsapp", "sms")
    assert invite(sessions, program, channels=channels)[0] == "sms"  # never wrote on WhatsApp
    answer(sessions, program, "hello", channel="whatsapp", phone="+15550005555", minutes=-60)
    assert invite(sessions, program, "+15550005555", channels=channels)[0] == "whatsapp"
    with pytest.raises(Refused) as refused:
        invite(sessions, program, "+15550006666", channels=("whatsapp",))
    assert refused.value.reason == "no_channel"


def test_members_and_stopped_numbers_are_refused(sessions, program) -> None:  # type: ignore[no-untyped-def]
    answer(sessions, program, "hi", channel="terminal", phone=MEMBER)
    answer(sessions, program, "yes", channel="terminal", phone=MEMBER)
    with pytest.raises(Refused) as member:
        invite(sessions, program, MEMBER)
    assert member.value.reason == "already_member"
    invite(sessions, program)
    with sessions.begin() as session:
        identity = members.get_identity(session, program.id, "sms", PHONE, T0)
        members.stop_messages(identity, T0)
    with pytest.raises(Refused) as stopped:
        invite(sessions, program, channels=("sms",))
    assert stopped.value.reason == "stopped"
