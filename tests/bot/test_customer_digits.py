"""A customer's digits in any script mean what they say; digit-like signs are no numbers.

The chat writes every decimal digit (Arabic-Indic "١", Persian "۱", full-width "１",
Devanagari "१") as 0-9 before reading a message, on purpose: someone on an Arabic keyboard
who types "١" after a menu means 1. "²", "½" and "①" are not digits: they get the normal
answers, never an exception and never a number nobody typed."""
from __future__ import annotations

import pytest
from test_conversation import Chat, chat, joined  # noqa: F401  (fixture)

from bot.intents import Intent, match


def rich(chat_factory) -> Chat:  # type: ignore[no-untyped-def]
    c = joined(chat_factory)
    c.purchase("50.00", "R-1")  # 550 points: the free coffee (500) is reward 1
    return c


@pytest.mark.parametrize("one", ["١", "۱", "１", "१", "#١", "١."])
def test_any_scripts_one_after_the_rewards_menu_picks_reward_one(chat, one: str) -> None:  # noqa: F811
    c = rich(chat)
    c.send("rewards")
    assert "Redeem Free coffee for 500 points?" in c.send(one)
    assert "Show this code at the counter" in c.send("yes")


@pytest.mark.parametrize("words", ["redeem ١", "redeem １", "canjear ١"])
def test_redeem_with_any_scripts_number(chat, words: str) -> None:  # noqa: F811
    assert "Redeem Free coffee for 500 points?" in rich(chat).send(words)


@pytest.mark.parametrize("words", ["redeem ¹", "redeem ①", "redeem ½"])
def test_a_superscript_or_fraction_is_no_reward_number(chat, words: str) -> None:  # noqa: F811
    c = rich(chat)
    answer = c.send(words)
    assert "I don't know that reward." in answer and "Redeem Free coffee" not in answer
    assert c.member().balance == 550


@pytest.mark.parametrize("junk", ["²", "½", "①", "¹²³", "² ½", "#²", "⁵.", "birthday ²/⁵", "redeem ²"])
def test_digit_like_signs_get_a_normal_answer(chat, junk: str) -> None:  # noqa: F811
    c = rich(chat)
    c.send("rewards")  # a menu is open: "²" must not pick from it
    answer = c.send(junk)
    assert "Redeem" not in answer or "I don't know that reward" in answer
    assert answer.strip()
    assert c.member().balance == 550 and c.member().birthday is None


def test_a_birthday_in_arabic_indic_digits(chat) -> None:  # noqa: F811
    c = joined(chat)
    assert "Saved: 14 May" in c.send("birthday ١٩٩٠-٠٥-١٤")
    assert c.member().birthday.isoformat() == "1990-05-14"


def test_a_birthday_in_full_width_digits_when_asked(chat) -> None:  # noqa: F811
    c = joined(chat)
    c.send("birthday")
    assert "Saved: 14 May" in c.send("１４/０５")


def test_the_intent_parser_itself_reads_ascii_numbers_only() -> None:
    menu = {"1": "balance"}
    assert match("1", menu) == Intent("balance")
    assert match("²", menu).name == "unknown"
    assert match("redeem ¹").arg == "¹"  # a name no reward has, not the number 1
