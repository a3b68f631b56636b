"""The Telegram channel: updates read with PTB's classes, Replies sent through the real
``telegram.Bot`` to the fake Bot API server, and the provider's refusals mapped for the sender."""
from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from fakes.telegram_api import FakeTelegram, button_update, contact_update, text_update
from PIL import Image as PILImage
from telegram import Update

from bot.messages import SHARE_PHONE, Button, Image, Reply
from channels.base import render_text
from channels.sender import PermanentFailure, RetryAfter
from channels.telegram import (
    CAPTION_MAX,
    MalformedUpdate,
    TelegramAdapter,
    TelegramUnavailable,
    api_urls,
    parse,
    parse_update,
)

CHAT = 777001


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def adapter(fake: FakeTelegram) -> Iterator[TelegramAdapter]:
    made = TelegramAdapter(fake.token, fake.base_url, timeout=5)
    yield made
    made.close()


# --- reading updates -------------------------------------------------------------------


def test_a_text_message_becomes_an_incoming_message() -> None:
    parsed = parse(text_update(5001, CHAT, "how many points?", language="es-MX"), program_id=3)
    assert parsed is not None and parsed.callback_query_id is None
    m = parsed.message
    assert (m.program_id, m.channel, m.address, m.text) == (3, "telegram", str(CHAT), "how many points?")
    assert m.provider_message_id == "5001" and m.language_hint == "es" and m.phone is None and m.payload is None


def test_start_with_a_payload_keeps_the_command_for_the_core() -> None:
    parsed = parse(text_update(5002, CHAT, "/start 4GQ8T2KM"), 1)
    assert parsed is not None and parsed.message.text == "/start 4GQ8T2KM"


def test_a_button_press_carries_its_callback_data_as_the_payload() -> None:
    parsed = parse(button_update(5003, CHAT, "redeem free-coffee"), 1)
    assert parsed is not None and parsed.callback_query_id == "cq-5003"
    assert parsed.message.payload == parsed.message.text == "redeem free-coffee"
    assert parsed.message.address == str(CHAT)


def test_a_shared_contact_gives_the_phone_only_when_it_is_the_senders_own() -> None:
    own = parse(contact_update(5004, CHAT, "15550000002"), 1)
    assert own is not None and own.message.phone == "+15550000002" and own.message.payload == SHARE_PHONE
    with_plus = parse(contact_update(5005, CHAT, "+34 612 345 678"), 1)
    assert with_plus is not None and with_plus.message.phone == "+34612345678"
    someone_else = parse(contact_update(5006, CHAT, "15550000003", user_id=999), 1)
    assert someone_else is not None and someone_else.message.phone is None and someone_else.message.payload == SHARE_PHONE
    nonsense = parse(contact_update(5007, CHAT, "12"), 1)
    assert nonsense is not None and nonsense.message.phone is None


def test_updates_the_bot_does_not_answer_are_none() -> None:
    edited = text_update(5008, CHAT, "hi")
    edited["edited_message"] = edited.pop("message")
    assert parse(edited, 1) is None
    assert parse(text_update(5009, -100123, "hi", chat_type="supergroup"), 1) is None
    assert parse({"update_id": 5010}, 1) is None


def test_a_sticker_still_reaches_the_core_so_it_gets_help() -> None:
    update = text_update(5011, CHAT, "x")
    del update["message"]["text"]
    update["message"]["sticker"] = {"file_id": "s", "file_unique_id": "u", "width": 1, "height": 1,
                                    "is_animated": False, "is_video": False, "type": "regular"}
    parsed = parse(update, 1)
    assert parsed is not None and parsed.message.text == ""


@pytest.mark.parametrize("body", [
    [], "hi", 7, {}, {"update_id": "7"}, {"update_id": True}, {"update_id": 1, "message": "nope"},
    {"update_id": 1, "message": {"text": "no chat, no id, no date"}},
    {"update_id": 1, "callback_query": {"id": "x"}},
    {"update_id": 1, "message": {**text_update(1, CHAT, "hi")["message"], "chat": {"id": "1", "type": "private"}}},
    {"update_id": 1, "message": {**text_update(1, CHAT, "hi")["message"], "text": 7}},
    {"update_id": 1, "message": {**text_update(1, CHAT, "hi")["message"], "from": {"id": None, "is_bot": False}}},
    {"update_id": 1, "callback_query": {**button_update(1, CHAT, "balance")["callback_query"], "id": 5}},
])
def test_what_is_not_an_update_is_malformed(body: object) -> None:
    with pytest.raises(MalformedUpdate):
        parse(body, 1)


@pytest.mark.parametrize("data", [
    button_update(5012, CHAT, "balance"), text_update(5013, CHAT, "balance"), contact_update(5014, CHAT, "15550000002"),
])
def test_poll_and_webhook_read_the_same_way(data: dict) -> None:  # type: ignore[type-arg]
    assert parse_update(Update.de_json(data, None), 1) == parse(data, 1) is not None


# --- sending -----------------------------------------------------------------------------


def test_base_url_forms() -> None:
    assert api_urls(None) == ("https://api.telegram.org/bot", "https://api.telegram.org/file/bot")
    assert api_urls("http://127.0.0.1:8081/") == ("http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/file/bot")
    assert api_urls("http://tg.local/bot") == ("http://tg.local/bot", "http://tg.local/file/bot")
    assert api_urls("http://h/bot{token}/x") == ("http://h/bot{token}/x", "http://h/file/bot{token}/x")


def test_buttons_become_an_inline_keyboard(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    long_payload = "redeem " + "x" * 70
    reply = Reply("Rewards:", (Button("Free coffee: 500 pts", "redeem free-coffee"), Button("Big one", long_payload)),
                  hint="Reply with a number to redeem.")
    message_id = adapter.send(str(CHAT), reply)
    [call] = fake.sent(CHAT)
    assert message_id.isdigit() and call.method == "sendMessage"
    assert call.params["text"] == "Rewards:"  # no numbers, no hint: the buttons are drawn
    # Long titles: one a row; a payload over 64 bytes goes as its menu number.
    assert call.params["reply_markup"] == {"inline_keyboard": [
        [{"text": "Free coffee: 500 pts", "callback_data": "redeem free-coffee"}],
        [{"text": "Big one", "callback_data": "2"}],
    ]}
    fake.reset()
    adapter.send(str(CHAT), Reply("Join?", (Button("Yes", "yes"), Button("No", "no"))))
    assert fake.sent(CHAT)[0].params["reply_markup"]["inline_keyboard"] == [
        [{"text": "Yes", "callback_data": "yes"}, {"text": "No", "callback_data": "no"}]]


def test_the_share_phone_button_asks_for_the_contact(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    adapter.send(str(CHAT), Reply("Share your number?", (Button("Share my phone number", SHARE_PHONE),)))
    [call] = fake.sent(CHAT)
    assert call.params["reply_markup"] == {"keyboard": [[{"text": "Share my phone number", "request_contact": True}]],
                                           "resize_keyboard": True, "one_time_keyboard": True}
    fake.reset()
    # With inline choices the contact button follows in a message of its own (one keyboard a message).
    adapter.send(str(CHAT), Reply("Menu", (Button("Balance", "balance"), Button("Share", SHARE_PHONE))))
    first, second = fake.sent(CHAT)
    assert first.params["reply_markup"] == {"inline_keyboard": [[{"text": "Balance", "callback_data": "balance"}]]}
    assert second.params["text"] == "Share" and second.params["reply_markup"]["keyboard"][0][0]["request_contact"]
    # Text channels leave it out altogether.
    assert render_text(Reply("Menu", (Button("Balance", "balance"), Button("Share", SHARE_PHONE))), True) == "Menu\n1) Balance"


def test_a_qr_goes_as_a_photo_that_decodes_with_the_text_as_caption(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    adapter.send(str(CHAT), Reply("Show this code", image=Image("qr", "K7QM3XPA9RT2W", "code.png")))
    [call] = fake.sent(CHAT)
    assert call.method == "sendPhoto" and call.params["caption"] == "Show this code"
    [found] = zxingcpp.read_barcodes(PILImage.open(io.BytesIO(call.files["photo"])))
    assert found.text == "K7QM3XPA9RT2W"


def test_text_too_long_for_a_caption_follows_the_photo(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    text = "y" * (CAPTION_MAX + 1)
    adapter.send(str(CHAT), Reply(text, (Button("OK", "yes"),), image=Image("qr", "A1", "a.png")))
    photo, message = fake.sent(CHAT)
    assert photo.method == "sendPhoto" and "caption" not in photo.params and "reply_markup" not in photo.params
    assert message.params["text"] == text and message.params["reply_markup"]["inline_keyboard"]


def test_a_campaign_picture_goes_as_a_photo_by_address(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    adapter.send(str(CHAT), Reply("Double points this weekend!", image=Image("url", "https://shop.example/w.jpg", "w.jpg"),
                                  kind="notice"))
    [call] = fake.sent(CHAT)
    assert call.method == "sendPhoto" and call.params["photo"] == "https://shop.example/w.jpg"
    assert call.params["caption"] == "Double points this weekend!" and not call.files


def test_429_is_retry_after_with_telegrams_seconds(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    fake.rate_limit(7)
    with pytest.raises(RetryAfter) as caught:
        adapter.send(str(CHAT), Reply("hi"))
    assert caught.value.seconds == 7.0
    adapter.send(str(CHAT), Reply("hi"))  # once only
    assert len(fake.sent(CHAT)) == 1


def test_blocked_and_unknown_chats_are_permanent_and_unreachable(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    fake.block(CHAT)
    fake.forget(CHAT + 1)
    for chat, words in ((CHAT, "blocked by the user"), (CHAT + 1, "chat not found")):
        with pytest.raises(PermanentFailure) as caught:
            adapter.send(str(chat), Reply("hi"))
        assert words in caught.value.reason.lower() and caught.value.unreachable


def test_a_message_telegram_refuses_fails_without_silencing_the_chat(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    fake.fail(400, "Bad Request: BUTTON_DATA_INVALID", method="sendMessage")
    with pytest.raises(PermanentFailure) as caught:
        adapter.send(str(CHAT), Reply("hi", (Button("x", "y"),)))
    assert "button_data_invalid" in caught.value.reason.lower() and not caught.value.unreachable


def test_trouble_on_the_way_is_transient_and_never_shows_the_token(fake: FakeTelegram, adapter: TelegramAdapter,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    fake.fail(502, "Bad Gateway", method="sendMessage")
    with pytest.raises(TelegramUnavailable) as caught:
        adapter.send(str(CHAT), Reply("hi"))
    assert not isinstance(caught.value, PermanentFailure | RetryAfter)
    wrong = TelegramAdapter("999:not-the-token", fake.base_url, timeout=5)
    try:
        with pytest.raises(TelegramUnavailable, match="TELEGRAM_BOT_TOKEN") as refused:
            wrong.send(str(CHAT), Reply("hi"))
        assert "not-the-token" not in str(refused.value)
    finally:
        wrong.close()
    assert [c.status for c in fake.calls if c.method == "getMe"][-1] == 401
    assert fake.token not in caplog.text and "not-the-token" not in caplog.text
    adapter.close()  # a server that went away: a transient failure, retried by the sender
    fake.stop()
    with pytest.raises(TelegramUnavailable):
        TelegramAdapter(fake.token, fake.base_url, timeout=1).send(str(CHAT), Reply("hi"))


def test_the_commands_calls(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    assert adapter.username() == "loyalty_test_bot"
    assert adapter.set_webhook("https://shop.example/webhooks/telegram", "s3cret")
    assert fake.webhook == {"url": "https://shop.example/webhooks/telegram", "secret_token": "s3cret",
                            "allowed_updates": ["message", "callback_query"]}
    assert adapter.webhook_info().url == "https://shop.example/webhooks/telegram"
    with pytest.raises(TelegramUnavailable, match="webhook is active"):
        adapter.get_updates(None, timeout=0)
    assert adapter.delete_webhook()
    fake.push_update(text_update(9001, CHAT, "hi"))
    fake.push_update(text_update(9002, CHAT, "balance"))
    assert [u.update_id for u in adapter.get_updates(None, timeout=0)] == [9001, 9002]
    assert [u.update_id for u in adapter.get_updates(9002, timeout=0)] == [9002]  # 9001 confirmed
    assert adapter.get_updates(9003, timeout=0) == ()
    assert adapter.answer_callback_query("cq-1")


# --- the fake in a process of its own (bench/sender.py) ------------------------------------


def test_the_fake_serves_from_its_own_process_and_tells_what_arrived_when() -> None:
    fake_script = Path(__file__).resolve().parents[1] / "fakes" / "telegram_api.py"
    proc = subprocess.Popen([sys.executable, str(fake_script)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base_url, token = proc.stdout.readline().split()
        adapter = TelegramAdapter(token, base_url, timeout=5)
        try:
            before = time.monotonic()
            adapter.send(str(CHAT), Reply("one"))
            adapter.send(str(CHAT), Reply("two"))
            after = time.monotonic()
        finally:
            adapter.close()

        def sent(since: int) -> dict[str, Any]:
            with urllib.request.urlopen(f"{base_url}/_fake/sent?after={since}", timeout=5) as response:
                return dict(json.load(response))

        everything, last = sent(0), sent(1)
        assert everything["count"] == 2 and last["count"] == 2
        assert before <= everything["at"][0] <= everything["at"][1] <= after  # one monotonic clock for both processes
        assert last["at"] == everything["at"][1:]
    finally:
        proc.terminate()
        assert proc.wait(10) == 0  # SIGTERM stops it cleanly
