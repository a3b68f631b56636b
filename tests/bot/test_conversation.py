"""The conversation, read as dialogues: send a line, expect what the customer sees."""
from __future__ import annotations

import io
import json
import random
from datetime import timedelta

import pytest
import zxingcpp
from PIL import Image as PILImage
from sqlalchemy import func, select
from support import T0

from bot.handler import handle
from bot.messages import IncomingMessage, Reply
from channels.base import render_text
from rewards import earning, members
from rewards.codes import display
from rewards.models import Code, Member, Referral
from rewards.program.programs import config_of
from rewards.qr import qr_png


class Chat:
    """A customer on one channel; ``send`` returns what they would read."""

    def __init__(self, sessions, program, phone: str, channel: str = "terminal") -> None:  # type: ignore[no-untyped-def]
        self.sessions, self.program, self.phone, self.channel = sessions, program, phone, channel
        self.now = T0
        self.replies: list[Reply] = []

    def send(self, text: str) -> str:
        message = IncomingMessage(self.program.id, self.channel, self.phone, text, phone=self.phone)
        with self.sessions.begin() as session:
            self.replies = handle(session, message, self.now)
        assert self.replies, f"no reply to {text!r}"
        return "\n".join(render_text(r, numbered=True, hint=r.hint) for r in self.replies)

    def member(self) -> Member | None:
        with self.sessions() as session:
            return members.by_phone(session, self.program.id, self.phone)

    def purchase(self, amount: str, receipt: str) -> list:  # type: ignore[type-arg]
        with self.sessions.begin() as session:
            member = members.by_phone(session, self.program.id, self.phone)
            return earning.record_purchase(session, self.program, config_of(self.program), member, amount, receipt, self.now).events


@pytest.fixture
def chat(sessions, program):  # type: ignore[no-untyped-def]
    return lambda phone="+15550001111", channel="terminal": Chat(sessions, program, phone, channel)


def joined(chat_factory, phone: str = "+15550001111") -> Chat:  # type: ignore[no-untyped-def]
    c = chat_factory(phone)
    c.send("hi")
    c.send("yes")
    return c


def test_a_newcomer_is_asked_to_consent_and_joins_with_the_bonus(chat) -> None:  # type: ignore[no-untyped-def]
    c = chat()
    first = c.send("hi")
    assert "Welcome to Bean There Coffee rewards!" in first
    assert "Reply YES or NO" in first
    assert c.member() is None  # nothing before consent
    second = c.send("yes")
    member = c.member()
    assert member is not None and member.balance == 50
    assert f"member code is {member.code}" in second
    assert "You have 50 points. Tier: Bronze." in second


def test_saying_no_to_joining_creates_nothing(chat) -> None:  # type: ignore[no-untyped-def]
    c = chat()
    c.send("hello")
    assert "Send JOIN whenever" in c.send("no")
    assert c.member() is None


def test_a_spanish_newcomer_is_answered_in_spanish(chat) -> None:  # type: ignore[no-untyped-def]
    c = chat()
    assert "Bienvenido" in c.send("hola")
    answer = c.send("sí")
    assert "Tienes 50 puntos" in answer
    assert c.member().language == "es"


@pytest.mark.parametrize("question", ["balance", "how many points do I have?", "POINTS", "/balance", "1"])
def test_balance_by_command_words_or_menu_number(chat, question: str) -> None:  # type: ignore[no-untyped-def]
    c = joined(chat)
    assert "You have 50 points" in c.send(question)


def test_balance_shows_progress_to_the_next_tier(chat) -> None:  # type: ignore[no-untyped-def]
    c = joined(chat)
    c.purchase("20.00", "R-1")
    assert "You have 250 points. Tier: Bronze. 800 points to Silver." in c.send("balance")


def test_redeem_by_menu_number_with_confirmation_issues_a_working_code(chat, sessions) -> None:  # type: ignore[no-untyped-def]
    c = joined(chat)
    c.purchase("50.00", "R-1")  # +500 -> 550
    listing = c.send("rewards")
    assert "1) Free coffee: 500 pts" in listing and "Reply with a number to redeem." in listing
    assert "Redeem Free coffee for 500 points?" in c.send("1")
    assert c.member().balance == 550  # nothing taken before yes
    done = c.send("yes")
    assert "Show this code at the counter" in done and "Balance: 50" in done
    image = c.replies[-1].image
    assert image is not None and image.kind == "qr"
    decoded = zxingcpp.read_barcodes(PILImage.open(io.BytesIO(qr_png(image.data))))
    assert decoded[0].text == image.data
    with sessions() as session:
        code = session.scalar(select(Code))
        assert code.code == image.data and code.status == "issued" and display(code.code) in done


def test_redeem_without_enough_points_says_how_many_are_missing(chat) -> None:  # type: ignore[no-untyped-def]
    c = joined(chat)
    assert "You need 450 more points" in c.send("redeem free-coffee")
    assert c.member().balance == 50


def test_no_cancels_a_redemption(chat) -> None:  # type: ignore[no-untyped-def]
    c = joined(chat)
    c.purchase("50.00", "R-1")
    c.send("redeem free-coffee")
    assert "cancelled" in c.send("no")
    assert c.member().balance == 550


def test_a_confirmation_times_out(chat) -> None:  # type: ignore[no-untyped-def]
    c = joined(chat)
    c.purchase("50.00", "R-1")
    c.send("redeem free-coffee")
    c.now += timedelta(minutes=11)
    assert "timed out" in c.send("yes")
    assert c.member().balance == 550


def test_history_lists_recent_entries(chat) -> None:  # type: ignore[no-untyped-def]
    c = joined(chat)
    c.purchase("3.00", "R-9")
    text = c.send("history")
    assert "+30 purchase" in text and "+50 welcome bonus" in text and "Balance: 80" in text


def test_invite_then_friend_joins_and_qualifies(chat, sessions) -> None:  # type: ignore[no-untyped-def]
    ana = joined(chat, "+15550000101")
    code = ana.member().code
    assert f"Your invite code: {code}" in ana.send("invite")
    friend = chat("+15550000102")
    assert "invited by a friend" in friend.send(f"JOIN {code}")
    friend.send("yes")
    events = friend.purchase("6.00", "R-F1")
    assert ana.member().balance == 50 + 200
    assert friend.member().balance == 50 + 60 + 100
    assert any(getattr(e, "friend_side", None) is False for e in events)
    assert "Invited 1, joined 1, qualified 1; you earned 200 points." in ana.send("invite")


def test_referral_refusals_are_explained(chat) -> None:  # type: ignore[no-untyped-def]
    ana = joined(chat, "+15550000101")
    code = ana.member().code
    assert "your own invite code" in ana.send(f"JOIN {code}")
    stranger = chat("+15550000103")
    assert "invite code was not found" in stranger.send("JOIN ZZZZZZZZ")


def test_language_switch(chat) -> None:  # type: ignore[no-untyped-def]
    c = joined(chat)
    assert "Idioma" in c.send("idioma es") or "español" in c.send("balance").lower()
    assert "Tienes 50 puntos" in c.send("saldo")
    c.send("language en")
    assert "You have 50 points" in c.send("balance")


def test_birthday_is_saved_once(chat) -> None:  # type: ignore[no-untyped-def]
    c = joined(chat)
    assert "When is your birthday" in c.send("birthday")
    assert "Saved: 14 May" in c.send("14/05/1990")
    assert c.member().birthday.isoformat() == "1990-05-14"
    assert "Ask staff" in c.send("birthday 01/01")


def test_opt_out_and_back_in(chat) -> None:  # type: ignore[no-untyped-def]
    c = joined(chat)
    c.send("stop promotions")
    assert c.member().marketing_consent is False
    c.send("optin")
    assert c.member().marketing_consent is True


def test_export_and_delete_with_confirmation(chat, sessions) -> None:  # type: ignore[no-untyped-def]
    c = joined(chat)
    exported = c.send("my data")
    assert json.loads(exported.split("\n", 1)[1])["phone"] == "+15550001111"
    assert "cannot be undone" in c.send("delete my data")
    c.send("yes")
    assert c.member() is None
    with sessions() as session:
        gone = session.scalar(select(Member))
        assert gone.phone is None and gone.deleted_at is not None and gone.balance == 0
    assert "Welcome" in c.send("hi")  # may join again


def test_a_tier_upgrade_produces_a_message(chat) -> None:  # type: ignore[no-untyped-def]
    from bot.i18n import translator
    from bot.notices import text

    c = joined(chat)
    events = c.purchase("100.00", "R-BIG")
    assert "Congratulations, you reached Silver!" in [text(e, translator("en")) for e in events]


def test_unknown_input_gets_help_never_silence(chat) -> None:  # type: ignore[no-untyped-def]
    c = joined(chat)
    assert "Sorry, I didn't get that" in c.send("purple elephants")
    rng = random.Random(7)
    alphabet = "abc xyz 123 ¿?¡! ñé 🙂 \u200b\u202e\x00 /start JOIN"
    for _ in range(40):
        junk = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        assert c.send(junk or " ").strip()


def test_one_member_across_channels_by_phone(chat, sessions) -> None:  # type: ignore[no-untyped-def]
    joined(chat)
    other = chat("+15550001111", channel="sms")
    assert "You have 50 points" in other.send("balance")
    with sessions() as session:
        assert session.scalar(select(func.count(Member.id))) == 1
        assert session.scalar(select(func.count(Referral.id))) == 0
