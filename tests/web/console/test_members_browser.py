"""The members pages in a real browser (Chromium through Playwright, tests/web/browser.py),
on a phone and a desktop window: an owner signs in, finds Ben, opens his page, adjusts his
points with a reason and sees the new balance; neither page scrolls sideways, and each passes the
audit of tests/web/browser.py (labels, contrast, no text over text). The keyboard
alone gets from the search field to the results. Every wait is Playwright's own."""
from __future__ import annotations

from typing import Any

import pytest
from browser import DESKTOP, PHONE, audit, expect
from conftest import PASSWORD, add_user
from test_api import Shop

from rewards import members

WAIT_MS = 10_000


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_an_owner_finds_ben_and_adjusts_his_points(chromium: Any, served: tuple[Shop, str],
                                                   viewport: dict[str, int]) -> None:
    shop, base = served
    email = add_user(shop, "owner")
    with shop.rt.transaction() as session:
        ben = members.find(session, shop.program_id, "+15550000002")
        code, balance = ben.code, ben.balance
    page = chromium.new_page(viewport=viewport)
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{base}/members")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/members")  # the sign-in came back to the page asked for

    search = page.get_by_label("Phone, member code or name")
    search.fill("Ben")
    search.press("Enter")
    results = page.locator("table.members tbody tr")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("+15550000002")
    audit(page)

    page.get_by_role("link", name=code).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ben")
    expect(page.locator("#balance")).to_have_text(f"{balance:,}")
    audit(page)

    page.get_by_label("Points (negative to take off)").fill("25")
    reason = page.get_by_label("Reason (the member's history keeps it)")
    reason.fill("birthday cake on the house")
    reason.press("Enter")  # the keyboard submits the form
    expect(page.locator("p.ok")).to_have_text(f"Adjusted by +25 points: the balance is now {balance + 25:,}.")
    expect(page.locator("#balance")).to_have_text(f"{balance + 25:,}")
    expect(page.get_by_role("cell", name="birthday cake on the house")).to_be_visible()
    audit(page)
    page.close()
