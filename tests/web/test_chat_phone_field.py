"""The /chat page's phone field in a real browser (Chromium, driven by Playwright): a
number as dialled in the shop's country starts the chat, and a wrong one is said right
under the field, not at the foot of the page. Every wait is Playwright's own."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import migrated_sqlite_url
from test_api import Shop, _settings
from werkzeug.serving import make_server

from web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium): the /chat page is not tried in a browser",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
expect = sync_api.expect

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    """The demo shop (America/New_York, so US numbers) over HTTP, open at /chat on a phone."""
    shop = Shop(create_app(_settings(migrated_sqlite_url(tmp_path / "phone.db"), tmp_path)))
    server = make_server("127.0.0.1", 0, shop.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
            opened = browser.new_page(viewport=PHONE)
            opened.set_default_timeout(15_000)
            opened.goto(f"http://127.0.0.1:{server.port}/chat")
            yield opened
            browser.close()
    finally:
        server.shutdown()
        thread.join()
        shop.rt.engine.dispose()


def start(page: Any, phone: str) -> int:
    """Type ``phone``, press Start; the status of the page's first look at the conversation."""
    page.fill("#phone", phone)
    with page.expect_response(lambda r: "/chat/messages?" in r.url) as looked:
        page.click("#who button")
    return int(looked.value.status)


def test_a_number_as_dialled_in_the_shops_country_starts_the_chat(page: Any) -> None:
    assert start(page, "(555) 000-1111") == 200
    expect(page.locator("#text")).to_be_enabled()
    expect(page.locator("#phone-error")).to_be_empty()


def test_a_wrong_number_is_said_under_the_field(page: Any) -> None:
    assert start(page, "12") == 400
    error = page.locator("#phone-error")
    expect(error).to_contain_text('"12" has the wrong number of digits')
    expect(page.locator("#phone")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#text")).to_be_disabled()
    field, said = page.locator("#phone").bounding_box(), error.bounding_box()
    assert 0 <= said["y"] - (field["y"] + field["height"]) < 40  # right under it, on screen
    assert said["y"] + said["height"] <= PHONE["height"]
    expect(page.locator("#status")).to_be_empty()
    assert start(page, "+15550001111") == 200  # a right number clears it
    expect(error).to_be_empty()
