"""/users in Chromium: the owner adds a cashier, signs out, and the cashier signs in to their
first page; on a phone and on a desktop, no page scrolls sideways."""
from __future__ import annotations

from typing import Any

import pytest
from browser import DESKTOP, PHONE, expect, no_horizontal_scroll
from conftest import PASSWORD, add_user, email_of
from flask import url_for
from test_api import Shop

from web.console import menu

CASHIER_PASSWORD = "the till's own password"


def sign_in(page: Any, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_owner_adds_a_cashier_who_then_signs_in(chromium: Any, served: tuple[Shop, str],
                                                    viewport: dict[str, int]) -> None:
    shop, base = served
    add_user(shop, "owner")
    with shop.app.test_request_context():
        cashier_home = url_for(menu.home_endpoint("cashier") or "auth.login")
    page = chromium.new_page(viewport=viewport)
    try:
        sign_in(page, base, email_of("owner"), PASSWORD)
        page.get_by_role("link", name="Users").click()
        expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
        no_horizontal_scroll(page)

        page.get_by_label("Email").fill("till@shop.example")
        page.get_by_label("Role", exact=True).last.select_option("cashier")
        page.get_by_label("Initial password").fill(CASHIER_PASSWORD)
        page.get_by_role("button", name="Add user").click()
        expect(page.get_by_role("status")).to_have_text("till@shop.example can now sign in as cashier.")
        page.get_by_text("Change till@shop.example").click()  # its forms unfold, within the width
        expect(page.get_by_role("button", name="Disable till@shop.example")).to_be_visible()
        no_horizontal_scroll(page)

        page.get_by_role("link", name="My account").click()
        expect(page.get_by_role("heading", name="My account")).to_be_visible()
        no_horizontal_scroll(page)
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

        sign_in(page, base, "till@shop.example", CASHIER_PASSWORD)
        expect(page).to_have_url(f"{base}{cashier_home}")
        expect(page.get_by_text("till@shop.example · cashier")).to_be_visible()
        no_horizontal_scroll(page)
    finally:
        page.close()
