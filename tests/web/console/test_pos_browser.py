"""The till (/pos) in Chromium, as a cashier uses it on a phone and at a desktop: a purchase,
a reward code typed then confirmed, the purchase refunded, and codes shown to the camera.
The camera is Chromium's fake one playing a .y4m of a QR (tests/web/qr_video.py), decoded
by the page's own scanner.
Every wait is Playwright's (a locator's auto-wait, ``expect``): nothing sleeps."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import DESKTOP, PHONE, audit, expect, launched, serving
from conftest import PASSWORD, add_user
from qr_video import qr_y4m
from sqlalchemy import select
from test_api import BEN, Shop

from rewards import members
from rewards.models import Code

WAIT_MS = 15_000


@pytest.fixture
def served(console: Shop) -> Iterator[tuple[Shop, str]]:
    add_user(console, "cashier")
    with serving(console.app) as base:
        yield console, base


def at_the_till(browser: Any, base: str, viewport: dict[str, int]) -> Any:
    """A cashier signed in: signing in lands on the till, their only page."""
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill("cashier@shop.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page.get_by_role("heading", name="Till", exact=True)).to_be_visible()
    assert page.url.endswith("/pos")
    return page


def status_of(shop: Shop, code: str) -> str:
    with shop.rt.transaction() as session:
        return str(session.scalar(select(Code.status).where(Code.code == code)))


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_purchase_then_a_typed_code_checked_and_confirmed(served: tuple[Shop, str], viewport: dict[str, int]) -> None:
    shop, base = served
    code = shop.issue_code(BEN)
    with launched() as browser:
        page = at_the_till(browser, base, viewport)
        audit(page)
        page.get_by_label("Phone or member code").last.fill(BEN)
        page.get_by_label("Amount").fill("12.50")
        page.get_by_label("Receipt id").fill("R-100")
        page.get_by_role("button", name="Record the purchase").click()
        expect(page.locator("#purchase-result")).to_contain_text("+187 points. New balance:")
        audit(page)
        page.get_by_label("Code", exact=True).fill(code.lower())
        page.get_by_role("button", name="Check", exact=True).click()
        expect(page.locator("#code-details")).to_contain_text("Free coffee")
        assert status_of(shop, code) == "issued"  # looking is not using
        audit(page)
        page.get_by_role("button", name="Confirm: give Free coffee").click()
        expect(page.locator("#redeem-result")).to_contain_text("Accepted: give Free coffee to member")
        audit(page)
        # The purchase comes back: shown first, then refunded on Confirm.
        page.get_by_label("Receipt to refund").fill("R-100")
        page.get_by_role("button", name="Show the purchase").click()
        expect(page.locator("#refund-details")).to_contain_text("187")
        audit(page)
        page.get_by_role("button", name="Confirm: refund receipt R-100").click()
        expect(page.locator("#refund-result")).to_contain_text("Refunded receipt R-100: -187 points. New balance:")
        audit(page)
    assert status_of(shop, code) == "redeemed"


def test_the_till_works_from_the_keyboard(served: tuple[Shop, str]) -> None:
    shop, base = served
    with launched() as browser:
        page = at_the_till(browser, base, DESKTOP)
        page.locator("#find-customer").focus()
        page.keyboard.type(BEN)
        page.keyboard.press("Enter")
        expect(page.locator("#member")).to_contain_text("Gold")
        page.locator("#purchase-amount").focus()
        page.keyboard.type("10")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "purchase-receipt"
        page.keyboard.type("R-K1")
        page.keyboard.press("Enter")
        expect(page.locator("#purchase-result")).to_contain_text("+150 points.")


def test_a_reward_code_shown_to_the_camera_is_checked_then_used_once(served: tuple[Shop, str], tmp_path: Path) -> None:
    shop, base = served
    code = shop.issue_code(BEN)
    video = qr_y4m(code, tmp_path / "reward.y4m")
    camera = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
              f"--use-file-for-fake-video-capture={video}")
    with launched(*camera) as browser:
        page = at_the_till(browser, base, PHONE)
        page.get_by_role("button", name="Scan a reward code").click()
        # The scanned code fills the field and is checked: what it is, not yet used.
        expect(page.locator("#code-details")).to_contain_text("Free coffee")
        assert status_of(shop, code) == "issued"
        audit(page)
        page.get_by_role("button", name="Confirm: give Free coffee").click()
        expect(page.locator("#redeem-result")).to_contain_text("Accepted: give Free coffee")
        assert status_of(shop, code) == "redeemed"
        # The same card shown again is refused: the code was used once.
        page.get_by_role("button", name="Scan a reward code").click()
        expect(page.locator("#code-refused")).to_contain_text("already used")
        expect(page.get_by_role("button", name="Confirm: give Free coffee")).to_have_count(0)
    assert status_of(shop, code) == "redeemed"


def test_a_membership_card_shown_to_the_camera_finds_the_member(served: tuple[Shop, str], tmp_path: Path) -> None:
    shop, base = served
    with shop.rt.transaction() as session:
        member_code = members.find(session, shop.program_id, BEN).code
    video = qr_y4m(member_code, tmp_path / "card.y4m")
    camera = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
              f"--use-file-for-fake-video-capture={video}")
    with launched(*camera) as browser:
        page = at_the_till(browser, base, DESKTOP)
        page.get_by_role("button", name="Scan a membership card").click()
        expect(page.locator("#member")).to_contain_text(member_code)
        expect(page.locator("#purchase-customer")).to_have_value(member_code)  # ready for the purchase
        audit(page)


def test_without_a_camera_the_page_says_so_and_typing_still_works(served: tuple[Shop, str]) -> None:
    _, base = served
    with launched() as browser:
        page = at_the_till(browser, base, PHONE)
        page.get_by_role("button", name="Scan a reward code").click()
        expect(page.locator("#scanner-status")).to_contain_text("type the code")
        page.get_by_role("button", name="Stop the camera").click()
        expect(page.locator("#scanner")).to_be_hidden()
        expect(page.get_by_label("Code", exact=True)).to_be_editable()
