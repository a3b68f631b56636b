"""The text fallback every channel shares, and the collecting output used by tests."""
from __future__ import annotations

import pytest
from fakes.outputs import CollectingOutput

from bot.messages import Button, Image, IncomingMessage, Reply
from channels.base import render_text

MENU = (Button("Balance", "balance"), Button("Free coffee: 500 pts", "redeem free-coffee"))


def test_plain_text_is_left_alone() -> None:
    assert render_text(Reply("Hello"), numbered=True) == "Hello"
    assert render_text(Reply("Hello"), numbered=False, hint="Reply 1") == "Hello"


def test_buttons_become_numbered_lines_and_the_hint() -> None:
    reply = Reply("Rewards:", MENU)
    assert render_text(reply, numbered=True, hint="Reply with a number.") == (
        "Rewards:\n1) Balance\n2) Free coffee: 500 pts\nReply with a number."
    )
    assert render_text(reply, numbered=True) == "Rewards:\n1) Balance\n2) Free coffee: 500 pts"


def test_a_channel_that_draws_buttons_gets_only_the_text() -> None:
    assert render_text(Reply("Rewards:", MENU), numbered=False, hint="Reply with a number.") == "Rewards:"


def test_the_image_is_left_to_the_adapter() -> None:
    reply = Reply("Your card", image=Image("qr", "K7QM3XPA", "card.png"))
    assert render_text(reply, numbered=True) == "Your card"


def test_an_empty_text_with_buttons_has_no_blank_first_line() -> None:
    assert render_text(Reply("", MENU[:1]), numbered=True) == "1) Balance"


def test_collecting_output_keeps_address_and_reply_in_order() -> None:
    out = CollectingOutput()
    first, second = Reply("one"), Reply("two", MENU, hint="Pick one.")
    assert out.send("+15550001111", first) != out.send("chat-42", second)
    assert out.sent == [("+15550001111", first), ("chat-42", second)]
    assert out.replies("chat-42") == [second]
    assert out.texts() == ["one", "two\n1) Balance\n2) Free coffee: 500 pts\nPick one."]
    assert out.latest() is second
    out.clear()
    assert out.sent == [] and out.latest() is None


def test_messages_are_frozen_values() -> None:
    reply = Reply("hi", [Button("Yes", "yes")])  # type: ignore[arg-type]
    assert reply.buttons == (Button("Yes", "yes"),) and hash(reply)
    with pytest.raises(AttributeError):
        reply.text = "changed"  # type: ignore[misc]
    message = IncomingMessage(1, "sms", "+15550001111", "balance", phone="+15550001111")
    assert message.payload is None and message.language_hint is None and message.provider_message_id is None


def test_a_reply_kind_is_reply_or_notice() -> None:
    assert Reply("x").kind == "reply"
    assert Reply("x", kind="notice").kind == "notice"
    with pytest.raises(ValueError):
        Reply("x", kind="campaign")
