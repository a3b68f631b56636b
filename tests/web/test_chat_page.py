"""The /chat page as a browser uses it: post a message, the sender delivers through the
outbox (channel "web"), poll for the replies, press buttons, see the QR. And every way a
request can be wrong gets a 4xx and changes nothing."""
from __future__ import annotations

import dataclasses
import io
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from flask import Flask
from PIL import Image
from running import Running, clean_env, http, loyalty
from sqlalchemy import func, select
from support import T0, migrated_sqlite_url
from test_api import BEN, Shop, _settings

from bot.messages import Image as QrImage
from bot.messages import Reply
from bot.outbox_payload import to_payload
from channels import webchat
from channels.sender import Sender
from rewards import outbox
from rewards.models import InboundMessage, OutboxMessage
from web.app import create_app
from web.providers import build_adapters
from web.sender_runtime import limits

NEWCOMER = "+15550001111"
CSRF = {"X-Loyalty-Chat": "1"}


def deliver(shop: Shop) -> int:
    """What the sender thread of `loyalty serve` does when woken: send everything due."""
    sender = Sender(shop.rt.sessions, build_adapters(shop.rt.settings), limits=limits(shop.rt.settings),
                    clock=shop.rt.clock)  # the app's clock, which a test may set
    sent = 0
    while handled := sender.run_once():
        sent += handled
    return sent


class Browser:
    """The page's script, in Python: post, then poll after the cursor."""

    def __init__(self, shop: Shop, phone: str) -> None:
        self.shop, self.phone, self.cursor = shop, phone, 0
        self.last: list[dict[str, Any]] = []

    def post(self, **fields: Any) -> Any:
        body = {"phone": self.phone, "id": uuid.uuid4().hex, **fields}
        return self.shop.client.post("/chat/messages", json=body, headers=CSRF)

    def poll(self) -> list[dict[str, Any]]:
        response = self.shop.client.get("/chat/messages", query_string={"phone": self.phone, "after": self.cursor})
        assert response.status_code == 200, response.json
        assert response.headers["Cache-Control"] == "no-store"
        self.cursor = response.json["cursor"]
        return list(response.json["messages"])

    def say(self, text: str | None = None, **fields: Any) -> list[dict[str, Any]]:
        response = self.post(text=text, **fields)
        assert response.status_code == 200, response.json
        assert self.poll() == [], "nothing is shown before the sender has sent it"
        assert deliver(self.shop) >= 1
        self.last = self.poll()
        assert self.last, f"no reply to {text or fields}"
        return self.last

    def press(self, title: str) -> list[dict[str, Any]]:
        buttons = {b["title"]: b["payload"] for m in self.last for b in m["buttons"]}
        assert title in buttons, f"no button {title!r} among {sorted(buttons)}"
        return self.say(text=title, payload=buttons[title])

    def texts(self) -> str:
        return "\n".join(m["text"] for m in self.last)


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    made = Shop(create_app(_settings(migrated_sqlite_url(tmp_path / 'chat.db'), tmp_path)))
    yield made
    made.audit()
    made.rt.engine.dispose()


def outbox_rows(shop: Shop) -> list[OutboxMessage]:
    with shop.rt.transaction() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


# --- the conversation --------------------------------------------------------------------


def test_the_page_is_self_contained_and_says_it_is_a_demo(shop: Shop) -> None:
    page = shop.client.get("/chat")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="phone"' in html and "Bean There Coffee" in html and "not checked" in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    script = shop.client.get("/chat/static/chat.js")
    style = shop.client.get("/chat/static/chat.css")
    assert script.status_code == style.status_code == 200
    for text in (html, script.get_data(as_text=True), style.get_data(as_text=True)):
        assert "://" not in text, "the page must work offline: no external URLs"
    assert "X-Loyalty-Chat" in script.get_data(as_text=True)


def test_a_newcomer_joins_with_a_button_and_asks_for_the_balance(shop: Shop) -> None:
    browser = Browser(shop, NEWCOMER)
    welcome = browser.say("hi")
    assert "Reply YES or NO" in welcome[-1]["text"]
    assert [b["title"] for b in welcome[-1]["buttons"]] == ["Yes", "No"]
    joined = browser.press("Yes")
    assert "You're in" in joined[0]["text"]
    browser.say("how many points do I have?")
    assert "50 points" in browser.texts()
    rows = outbox_rows(shop)
    assert {(r.channel, r.address, r.status) for r in rows} == {("web", NEWCOMER, "sent")}
    assert all(r.provider_message_id and r.provider_message_id.startswith("web-") for r in rows)


def test_redeeming_shows_a_qr_that_decodes_to_a_code_the_till_accepts_once(shop: Shop) -> None:
    browser = Browser(shop, BEN)  # a demo member: the web chat's phone joins his wallet
    browser.say("rewards")
    browser.press("Free coffee: 500 pts")
    done = browser.press("Yes")
    with_qr = [m for m in done if m["image"]]
    assert len(with_qr) == 1
    png = shop.client.get(with_qr[0]["image"])
    assert png.status_code == 200 and png.mimetype == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)))
    assert len(decoded) == 1
    code = decoded[0].text
    assert code.replace("-", "") in with_qr[0]["text"].replace("-", "") or code in with_qr[0]["text"]
    assert shop.post(f"/codes/{code}/redeem").status_code == 200
    assert shop.post(f"/codes/{code}/redeem").status_code == 409
    # The QR is not served to another phone number, nor under another row's id.
    other = shop.client.get(f"/chat/qr/{with_qr[0]['id']}.png", query_string={"phone": NEWCOMER})
    assert other.status_code == 404
    first = shop.client.get(f"/chat/qr/{with_qr[0]['id'] - 1}.png", query_string={"phone": BEN})
    assert first.status_code == 404


def test_a_double_click_or_a_retried_post_has_one_effect(shop: Shop) -> None:
    browser = Browser(shop, NEWCOMER)
    body = {"phone": NEWCOMER, "text": "hi", "id": "same-id-123"}
    first = shop.client.post("/chat/messages", json=body, headers=CSRF)
    again = shop.client.post("/chat/messages", json=body, headers=CSRF)
    assert first.json == {"queued": 1, "duplicate": False}
    assert again.json == {"queued": 0, "duplicate": True}
    deliver(shop)
    assert len(browser.poll()) == 1
    # The same id from another phone is another message.
    other = shop.client.post("/chat/messages", json={**body, "phone": "+15550001112"}, headers=CSRF)
    assert other.json == {"queued": 1, "duplicate": False}


def test_the_sender_is_woken_after_the_commit(shop: Shop) -> None:
    seen: list[int] = []

    def wake() -> None:  # runs after commit: a fresh session sees the rows
        with shop.rt.sessions() as session:
            seen.append(session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)

    shop.rt.wake_sender = wake
    Browser(shop, NEWCOMER).post(text="hi")
    assert seen == [1]


def test_the_cursor_never_jumps_a_row_still_to_be_sent(shop: Shop) -> None:
    """A reply sent before an older notice: the page waits for the notice, shows both."""
    with shop.rt.transaction() as session:
        ids = [
            outbox.enqueue(session, shop.program_id, "web", BEN, to_payload(Reply(text, kind=kind)), kind, T0)
            for text, kind in (("notice first", "notice"), ("reply second", "reply"))
        ]
        outbox.claim(session, "w", T0, 1, 60)  # the reply, by priority
        assert outbox.mark_sent(session, ids[1], "w", "web-x", T0)
        page = webchat.conversation(session, shop.program_id, BEN, 0)
        assert (page.messages, page.cursor, page.pending) == ([], 0, True)
        outbox.claim(session, "w", T0, 1, 60)
        assert outbox.mark_failed(session, ids[0], "w", "gone", T0)  # failed rows are passed over
        page = webchat.conversation(session, shop.program_id, BEN, 0)
        assert [m["text"] for m in page.messages] == ["reply second"] and page.cursor == ids[1] and not page.pending


def test_a_qr_is_served_only_for_sent_web_rows(shop: Shop) -> None:
    qr = to_payload(Reply("your code", image=QrImage("qr", "ABCD-EFGH-JKLMN", "code.png")))
    with shop.rt.transaction() as session:
        web = outbox.enqueue(session, shop.program_id, "web", BEN, qr, "reply", shop.rt.clock())
        other = outbox.enqueue(session, shop.program_id, "sms", BEN, qr, "reply", shop.rt.clock())
    assert shop.client.get(f"/chat/qr/{web}.png", query_string={"phone": BEN}).status_code == 404  # not sent yet
    deliver(shop)
    assert shop.client.get(f"/chat/qr/{web}.png", query_string={"phone": BEN}).status_code == 200
    assert shop.client.get(f"/chat/qr/{other}.png", query_string={"phone": BEN}).status_code == 404


def test_a_campaign_picture_shows_by_its_address(shop: Shop) -> None:
    picture = to_payload(Reply("Double points!", image=QrImage("url", "https://shop.example/w.jpg", "w.jpg"), kind="notice"))
    with shop.rt.transaction() as session:
        outbox.enqueue(session, shop.program_id, "web", BEN, picture, "campaign", shop.rt.clock())
    deliver(shop)
    page = shop.client.get("/chat/messages", query_string={"phone": BEN, "after": 0}).get_json()
    assert [(m["text"], m["image"]) for m in page["messages"]] == [("Double points!", "https://shop.example/w.jpg")]


# --- refusals ----------------------------------------------------------------------------


def snapshot(shop: Shop) -> tuple[Any, ...]:
    with shop.rt.transaction() as session:
        return (
            shop.snapshot(),
            session.scalar(select(func.count()).select_from(OutboxMessage)),
            session.scalar(select(func.count()).select_from(InboundMessage)),
        )


@pytest.mark.parametrize(("body", "headers", "status", "error"), [
    ({"phone": NEWCOMER, "text": "hi"}, {}, 403, "csrf"),
    ({"phone": NEWCOMER, "text": "hi"}, {"X-Loyalty-Chat": "yes"}, 403, "csrf"),
    ({"phone": "555", "text": "hi"}, CSRF, 400, "bad_phone"),
    ({"phone": "not a phone", "text": "hi"}, CSRF, 400, "bad_phone"),
    ({"phone": 15550001111, "text": "hi"}, CSRF, 400, "bad_phone"),
    ({"text": "hi"}, CSRF, 400, "bad_phone"),
    ({"phone": NEWCOMER, "text": ["hi"]}, CSRF, 400, "bad_field"),
    ({"phone": NEWCOMER, "text": "x" * 1001}, CSRF, 413, "too_long"),
    ({"phone": NEWCOMER, "payload": "p" * 201}, CSRF, 413, "too_long"),
    ({"phone": NEWCOMER, "text": "nul \x00 here"}, CSRF, 400, "bad_field"),
    ({"phone": NEWCOMER, "text": "hi", "id": "short"}, CSRF, 400, "bad_id"),
    ({"phone": NEWCOMER, "text": "hi", "id": "spaces are not ok"}, CSRF, 400, "bad_id"),
    ({"phone": NEWCOMER, "text": "hi", "id": 12345678}, CSRF, 400, "bad_id"),
])
def test_bad_messages_are_refused_and_change_nothing(
    shop: Shop, body: dict[str, Any], headers: dict[str, str], status: int, error: str,
) -> None:
    before = snapshot(shop)
    response = shop.client.post("/chat/messages", json=body, headers=headers)
    assert response.status_code == status, response.json
    assert response.json["error"] == error and response.json["message"]
    assert snapshot(shop) == before


@pytest.mark.parametrize(("data", "status"), [
    (b"{not json", 400),
    (b"[1, 2]", 400),
    (b'{"phone": "+15550001111", "text": "\\ud800"}', 400),  # a lone surrogate
    (b"\xff\xfe", 400),
    (b"[" * 2000 + b"]" * 2000, 400),  # nested deeper than Python's json can read: was a 500
    (b'{"phone": "+15550001111", "text": ' + b"[" * 1000 + b"]" * 1000 + b"}", 400),
    (b'{"phone": "+15550001111", "text": NaN}', 400),
    (b'{"phone": "+15550001111", "text": "' + b"x" * 5000 + b'"}', 413),
    (b"x" * 300_000, 413),
])
def test_malformed_bodies_are_refused(shop: Shop, data: bytes, status: int) -> None:
    before = snapshot(shop)
    response = shop.client.post("/chat/messages", data=data, headers={**CSRF, "Content-Type": "application/json"})
    assert response.status_code == status and response.json["message"]
    assert snapshot(shop) == before


def test_an_empty_message_is_ignored(shop: Shop) -> None:
    before = snapshot(shop)
    response = Browser(shop, NEWCOMER).post(text="   ")
    assert response.status_code == 200 and response.json["ignored"] is True
    assert snapshot(shop) == before


def test_odd_unicode_gets_an_answer(shop: Shop) -> None:
    browser = Browser(shop, NEWCOMER)
    assert browser.say("🤖 ̸̢ \u202e ﷽")  # emoji, combining marks, right-to-left override


@pytest.mark.parametrize("query", [
    {}, {"phone": "nope"}, {"phone": NEWCOMER, "after": "-1"}, {"phone": NEWCOMER, "after": "1e3"},
    {"phone": NEWCOMER, "after": "9" * 40},
])
def test_bad_polls_are_refused(shop: Shop, query: dict[str, str]) -> None:
    response = shop.client.get("/chat/messages", query_string=query)
    assert response.status_code == 400 and response.json["message"]


def test_the_page_can_be_turned_off(tmp_path: Path) -> None:
    settings = _settings(migrated_sqlite_url(tmp_path / 'off.db'), tmp_path)
    app: Flask = create_app(dataclasses.replace(settings, web_chat=False))
    client = app.test_client()
    assert client.get("/chat").status_code == 404
    home = client.get("/").get_data(as_text=True)
    assert "/chat" not in home and "loyalty chat --as" not in home, "no link to a page that is off, nor demo hints"
    assert client.post("/chat/messages", json={"phone": NEWCOMER, "text": "hi"}, headers=CSRF).status_code == 404
    assert "web" not in app.extensions["loyalty"].enabled_channels
    app.extensions["loyalty"].engine.dispose()


def test_polls_are_cheap_to_repeat(shop: Shop) -> None:
    """Nothing new: an empty answer with the same cursor (the page polls every few seconds)."""
    browser = Browser(shop, NEWCOMER)
    browser.say("hi")
    cursor = browser.cursor
    assert browser.poll() == [] and browser.cursor == cursor


def test_the_home_page_links_to_the_chat_while_it_is_on(shop: Shop) -> None:
    assert 'href="/chat"' in shop.client.get("/").get_data(as_text=True)


def test_loyalty_serve_names_the_chat_page_only_while_it_is_on(tmp_path: Path) -> None:
    env = clean_env(f"sqlite:///{tmp_path / 'off.db'}", tmp_path, LOYALTY_WEB_CHAT="off")
    with Running(loyalty("serve", "--port", "0", "--no-clock"), env, tmp_path) as serve:
        base = serve.wait_for(r"serving on (http://127\.0\.0\.1:\d+)").group(1)
        serve.wait_for("Ctrl-C to stop")
        assert http("GET", f"{base}/chat")[0] == 404
        assert serve.stop(signal.SIGINT) == 0
    assert f"{base}/chat" not in serve.output and "chat as a customer" not in serve.output
    assert "web       off  set LOYALTY_WEB_CHAT=on for the /chat demo page" in serve.output


def test_a_number_typed_again_gets_the_customers_own_words_back_with_the_replies(shop: Shop) -> None:
    """What the customer said comes with the first reply it got: the page draws both sides."""
    browser = Browser(shop, NEWCOMER)
    browser.say("hi")
    browser.press("Yes")
    browser.say("how many points do I have?")
    again = Browser(shop, NEWCOMER).poll()
    assert [m["said"] for m in again if m["said"]] == ["hi", "Yes", "how many points do I have?"]
    assert again[0]["said"] == "hi" and "Reply YES or NO" in again[0]["text"]
    assert Browser(shop, "+15550001112").poll() == [], "another number sees none of it"
