"""The campaign form in Chromium, on a phone and on a desktop window: a manager signs in,
opens /campaigns/new, changes the audience and watches the live count follow (the number
``loyalty campaign preview`` prints for the same filters), creates the campaign and finds
it in the list. No page scrolls sideways, overlaps text, leaves a control unlabelled or
has faint text (tests/web/browser.py's ``audit``), with the count and a refusal shown too. Every wait is Playwright's own (``expect``)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import DESKTOP, PHONE, audit, expect, serving
from conftest import PASSWORD, add_user
from support import migrated_sqlite_url
from test_api import Shop, _settings
from test_campaigns import cli_figure, reachable

from web.app import create_app

WAIT_MS = 15_000


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Shop, str]]:
    shop = Shop(create_app(_settings(migrated_sqlite_url(tmp_path / "campaigns.db"), tmp_path)))
    reachable(shop)
    try:
        with serving(shop.app) as base:
            yield shop, base
    finally:
        shop.audit()
        shop.rt.engine.dispose()


def would_be_sent(shop: Shop, audience: str) -> str:
    return str(cli_figure(shop.cli("campaign", "preview", "--audience", audience).output, "would be sent"))


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_manager_watches_the_count_and_creates_a_campaign(chromium: Any, served: tuple[Shop, str],
                                                            viewport: dict[str, int]) -> None:
    shop, base = served
    email = add_user(shop, "manager")
    page = chromium.new_page(viewport=viewport)
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))  # the script's own errors
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.get_by_role("link", name="Campaigns").click()
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()
    audit(page)
    page.get_by_role("link", name="New campaign").click()

    sending = page.locator("#count-sending")
    expect(sending).to_have_attribute("data-n", would_be_sent(shop, "all"))  # drawn when the page opens
    audit(page)
    page.get_by_label("Gold").check()
    expect(sending).to_have_attribute("data-n", would_be_sent(shop, "tier=Gold"))
    page.get_by_label("Silver").check()
    expect(sending).to_have_attribute("data-n", would_be_sent(shop, "tier=Gold|Silver"))
    page.get_by_label("Balance of at least (points)").fill("1000")
    expect(sending).to_have_attribute("data-n", would_be_sent(shop, "tier=Gold|Silver,min_balance=1000"))
    page.get_by_label("Used a reward").select_option("false")
    expected = would_be_sent(shop, "tier=Gold|Silver,min_balance=1000,has_redeemed=false")
    expect(sending).to_have_attribute("data-n", expected)
    assert page.locator("#count-sending").inner_text() == expected
    page.get_by_label("Balance of at least (points)").fill("-5")  # refused by name, as the CLI does
    expect(page.locator("#count .field-error")).to_have_text("audience min_balance: must be 0 to 1,000,000,000, got -5")
    page.get_by_label("Balance of at least (points)").fill("1000")
    expect(sending).to_have_attribute("data-n", expected)

    page.get_by_role("button", name="Create the campaign").click()  # no name yet: refused next to the field
    expect(page.locator("#err-name")).to_have_text("name: is required (a non-empty text)")
    expect(page.get_by_label("Gold")).to_be_checked()  # what was given is kept
    expect(sending).to_have_attribute("data-n", expected)
    audit(page)
    page.get_by_label("Name (for you: shown in lists)").fill("Spring thanks")
    page.get_by_label("Text", exact=True).fill("Thank you! Double points this week.")
    page.get_by_label("Send at a time").check()
    page.get_by_label("Date and time").fill("2199-03-01T10:00")
    audit(page)
    page.get_by_role("button", name="Create the campaign").click()
    expect(page.get_by_role("heading", name="Spring thanks")).to_be_visible()
    expect(page.get_by_text("Campaign created.")).to_be_visible()
    audit(page)
    page.get_by_role("link", name="Campaigns", exact=True).first.click()
    expect(page.get_by_role("link", name="Spring thanks")).to_be_visible()
    audit(page)
    assert errors == []
    page.close()


def test_the_form_is_usable_from_the_keyboard(chromium: Any, served: tuple[Shop, str]) -> None:
    shop, base = served
    email = add_user(shop, "owner")
    page = chromium.new_page(viewport=PHONE)
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{base}/login?next=/campaigns/new")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    expect(page.get_by_role("heading", name="New campaign")).to_be_visible()
    page.get_by_label("Gold").focus()
    page.keyboard.press("Space")
    expect(page.locator("#count-sending")).to_have_attribute("data-n", would_be_sent(shop, "tier=Gold"))
    page.get_by_label("Name (for you: shown in lists)").focus()
    page.keyboard.type("Keyboard")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "f-text"
    page.keyboard.type("Hello")
    page.get_by_role("button", name="Create the campaign").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Keyboard")).to_be_visible()
    page.close()


def test_an_owner_makes_a_weekly_campaign(chromium: Any, served: tuple[Shop, str]) -> None:
    """The "When" part shows only the fields of the choice made; a weekly campaign is created
    and its page reads its schedule in words."""
    shop, base = served
    email = add_user(shop, "owner")
    page = chromium.new_page(viewport=PHONE)
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{base}/login?next=/campaigns/new")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    expect(page.get_by_role("heading", name="New campaign")).to_be_visible()
    expect(page.get_by_label("Date and time")).to_be_hidden()
    expect(page.get_by_label("Saturday")).to_be_hidden()
    page.get_by_label("Repeat", exact=True).check()
    expect(page.get_by_label("Saturday")).to_be_visible()
    expect(page.get_by_label("Date and time")).to_be_hidden()
    expect(page.get_by_label("On day (every month)")).to_be_hidden()
    page.get_by_label("Name (for you: shown in lists)").fill("Saturday treat")
    page.get_by_label("Text", exact=True).fill("A treat every Saturday!")
    page.get_by_label("At (time)").fill("10:00")
    page.get_by_role("button", name="Create the campaign").click()  # no day ticked: refused next to the days
    expect(page.locator("#err-weekday")).to_have_text("Tick at least one day of the week.")
    expect(page.get_by_label("Saturday")).to_be_visible()  # the choice made is kept, and shown
    audit(page)
    page.get_by_label("Saturday").check()
    page.get_by_role("button", name="Create the campaign").click()
    expect(page.get_by_role("heading", name="Saturday treat")).to_be_visible()
    expect(page.locator("#schedule")).to_contain_text("Every Saturday at 10:00")
    audit(page)
    assert errors == []
    page.close()
