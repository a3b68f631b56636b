"""The /chat page in a real browser (Chromium, driven by Playwright), on a phone and on a
desktop window: the app served over HTTP with the sender on a thread, as `loyalty serve`
runs them. A conversation that ends in a redemption leaves the newest message, the QR and
the message box on screen; buttons send what they say; a number opened again shows the
customer's own messages as well as the bot's. Every wait is Playwright's own (a locator's
auto-wait, ``expect``): nothing sleeps."""
from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from browser import DESKTOP, PHONE, expect, launched, serving
from PIL import Image
from support import migrated_sqlite_url
from test_api import Shop, _settings

from web.app import create_app

NEWCOMER = "+15550001111"
# A notice after a purchase comes with the page's slow poll (every 3 s): room for that.
WAIT_MS = 15_000
# hi, Yes, (a purchase at the till), rewards, Free coffee, yes: the customer's side of it.
SAID = ["hi", "Yes", "rewards", "Free coffee: 500 pts", "yes"]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with launched() as browser:
        yield browser


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Shop, str]]:
    """The demo shop over HTTP, the sender woken after each commit."""
    shop = Shop(create_app(_settings(migrated_sqlite_url(tmp_path / "browser.db"), tmp_path)))
    try:
        with serving(shop.app) as base:
            yield shop, base
    finally:
        shop.audit()
        shop.rt.engine.dispose()


def open_chat(chromium: Any, base: str, viewport: dict[str, int], phone: str) -> Any:
    page = chromium.new_page(viewport=viewport)
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{base}/chat")
    page.fill("#phone", phone)
    page.click("#who button")
    expect(page.locator("#text")).to_be_enabled()
    return page


def say(page: Any, text: str) -> None:
    page.fill("#text", text)
    page.press("#text", "Enter")


def press(page: Any, title: str) -> None:
    """The newest button with this title (older menus stay on the page)."""
    page.locator("#log .buttons button", has_text=title).last.click()


def bot_says(page: Any, text: str) -> None:
    expect(page.locator("#log .msg.bot").last).to_contain_text(text, timeout=WAIT_MS)


def assert_in_view(page: Any, selector: str) -> None:
    """``selector``'s last element is wholly on screen: inside the window's height and, in
    the conversation, not hidden in its scrolled-away part."""
    element = page.locator(selector).last
    expect(element).to_be_in_viewport(ratio=1, timeout=WAIT_MS)
    box = element.bounding_box()
    height = page.evaluate("window.innerHeight")
    assert box is not None
    assert 0 <= box["y"] and box["y"] + box["height"] <= height, f"{selector} at {box}, the window is {height} high"
    if selector.startswith("#log "):
        log = page.locator("#log").bounding_box()
        assert log is not None
        assert log["y"] - 1 <= box["y"] and box["y"] + box["height"] <= log["y"] + log["height"] + 1, \
            f"{selector} at {box} is scrolled out of the conversation at {log}"


def redeem(shop: Shop, page: Any) -> None:
    """A newcomer joins with the button, buys at the till, and redeems a free coffee."""
    say(page, "hi")
    bot_says(page, "Reply YES or NO")
    press(page, "Yes")
    bot_says(page, "Tier: Bronze")
    bought = shop.post("/purchases", {"customer": NEWCOMER, "amount": "50.00", "receipt_id": "R-B1"})
    assert bought.status_code == 201, bought.json
    bot_says(page, "+500 points. Balance: 550.")
    say(page, "rewards")
    bot_says(page, "Rewards (you have 550 points)")
    press(page, "Free coffee: 500 pts")
    bot_says(page, "Redeem Free coffee for 500 points?")
    say(page, "yes")
    bot_says(page, "Show this code at the counter")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_after_a_redemption_the_newest_message_and_the_qr_are_in_view(
    chromium: Any, served: tuple[Shop, str], viewport: dict[str, int],
) -> None:
    shop, base = served
    page = open_chat(chromium, base, viewport, NEWCOMER)
    posts: list[Any] = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
    redeem(shop, page)

    qr = page.locator("#log img.qr").last
    expect(qr).to_have_js_property("complete", True)
    assert qr.evaluate("img => img.naturalWidth") > 0, "the QR image did not load"
    assert_in_view(page, "#log .msg")
    assert_in_view(page, "#log img.qr")
    assert_in_view(page, "#text")
    assert page.evaluate("document.scrollingElement.scrollHeight <= window.innerHeight"), "the page itself scrolls"

    png = shop.client.get(qr.get_attribute("src"))
    code = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)))[0].text
    assert code.replace("-", "") in page.locator("#log .msg.bot").last.inner_text().replace("-", "")
    assert page.locator("#status").inner_text() == ""
    assert [r.post_data_json.get("text") for r in posts] == SAID
    assert all(r.headers.get("x-loyalty-chat") == "1" for r in posts)
    page.close()


def test_a_number_opened_again_shows_both_sides_of_the_conversation(chromium: Any, served: tuple[Shop, str]) -> None:
    shop, base = served
    first = open_chat(chromium, base, PHONE, NEWCOMER)
    redeem(shop, first)
    drawn = first.locator("#log .msg").all_inner_texts()
    first.close()

    again = open_chat(chromium, base, PHONE, NEWCOMER)  # another tab, the same number typed
    bot_says(again, "Show this code at the counter")
    assert again.locator("#log .msg").all_inner_texts() == drawn, "the same conversation, in the same order"
    assert again.locator("#log .msg.you").all_inner_texts() == SAID
    assert_in_view(again, "#log img.qr")
    again.close()


def test_buttons_send_their_choice(chromium: Any, served: tuple[Shop, str]) -> None:
    _, base = served
    page = open_chat(chromium, base, DESKTOP, "+15550000002")  # Ben, a demo member
    say(page, "hi")
    bot_says(page, "Tier: Gold")
    press(page, "Balance")
    expect(page.locator("#log .msg.you").last).to_have_text("Balance")
    expect(page.locator("#log .msg.bot")).to_have_count(3)
    bot_says(page, "You have 3,466 points")
    assert_in_view(page, "#log .msg")
    page.close()


def start(chromium: Any, base: str, phone: str) -> tuple[Any, int]:
    """/chat on a phone, ``phone`` typed and Start pressed: the page and the status of its
    first look at the conversation."""
    page = chromium.new_page(viewport=PHONE)
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{base}/chat")
    page.fill("#phone", phone)
    with page.expect_response(lambda r: "/chat/messages?" in r.url) as looked:
        page.click("#who button")
    return page, int(looked.value.status)


def test_a_number_as_dialled_in_the_shops_country_starts_the_chat(chromium: Any, served: tuple[Shop, str]) -> None:
    page, status = start(chromium, served[1], "(555) 000-1111")  # the demo shop is in America/New_York
    assert status == 200
    expect(page.locator("#text")).to_be_enabled()
    expect(page.locator("#phone-error")).to_be_empty()
    page.close()


def test_a_wrong_number_is_said_under_the_field(chromium: Any, served: tuple[Shop, str]) -> None:
    page, status = start(chromium, served[1], "12")
    assert status == 400
    error = page.locator("#phone-error")
    expect(error).to_contain_text('"12" has the wrong number of digits')
    expect(page.locator("#phone")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#text")).to_be_disabled()
    field, said = page.locator("#phone").bounding_box(), error.bounding_box()
    assert 0 <= said["y"] - (field["y"] + field["height"]) < 40  # right under it, on screen
    assert said["y"] + said["height"] <= PHONE["height"]
    expect(page.locator("#status")).to_be_empty()
    page.fill("#phone", "+15550001111")  # a right number clears it
    with page.expect_response(lambda r: "/chat/messages?" in r.url):
        page.click("#who button")
    expect(error).to_be_empty()
    page.close()
