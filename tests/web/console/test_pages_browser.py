"""Every console page, for every role that may open it, on a phone (390x844) and a desktop
window (1280x800), in Chromium: no horizontal scrolling, no text drawn over other text,
every form control labelled, text contrast of at least 4.5:1, and the keyboard reaches the
page's controls. The pages come from the menu itself, so a new page is checked too."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import DESKTOP, PHONE, audit, serving
from conftest import PASSWORD, add_user
from support import migrated_sqlite_url
from test_api import Shop, _settings

from rewards.staff import ROLES
from web.app import create_app
from web.console import menu


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Shop, str]]:
    tmp_path: Path = tmp_path_factory.mktemp("pages")
    shop = Shop(create_app(_settings(migrated_sqlite_url(tmp_path / "pages.db"), tmp_path)))
    for role in ROLES:
        add_user(shop, role)
    try:
        with serving(shop.app) as base:
            yield shop, base
    finally:
        shop.audit()
        shop.rt.engine.dispose()


def sign_in(page: Any, base: str, role: str) -> None:
    page.goto(f"{base}/login")
    audit(page)
    page.get_by_label("Email").fill(f"{role}@shop.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def pages_of(shop: Shop, role: str) -> list[str]:
    with shop.app.test_request_context():
        return [shop.app.url_for(endpoint) for endpoint, _ in menu.NAV
                if role in getattr(shop.app.view_functions[endpoint], "staff_roles", ())]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize("role", ROLES)
def test_every_page_a_role_opens_reads_well(chromium: Any, served: tuple[Shop, str], role: str,
                                            viewport: dict[str, int]) -> None:
    shop, base = served
    paths = pages_of(shop, role)
    if not paths:
        pytest.skip(f"no console page is for the {role} role yet")
    page = chromium.new_page(viewport=viewport)
    sign_in(page, base, role)
    for path in paths:
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == 200, path
        audit(page)
        # The keyboard: Tab from the top reaches the menu and then the page's own controls.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip", f"{path}: Tab first reaches 'Skip to content'"
        focusable = page.evaluate("""() => [...document.querySelectorAll('main a[href], main button, main input:not([type=hidden]), main select, main textarea')]
            .filter(el => el.offsetParent !== null && el.tabIndex >= 0).length""")
        reached = False
        for _ in range(40):
            if reached or not focusable:
                break
            page.keyboard.press("Tab")
            reached = page.evaluate("!!document.activeElement.closest('main')")
        assert reached or not focusable, f"{path}: Tab never reaches the page's controls"
    page.close()


@pytest.mark.parametrize(("html", "said"), [
    ('<p>fine</p><div class="w">x</div><style>.w{width:2000px}</style>', "wide"),
    ('<p class="a">one</p><p class="a">two</p><style>.a{position:absolute;top:0;left:0}</style>', "text overlaps"),
    ('<input id="q">', "controls without a label"),
    ('<p class="f">faint</p><style>.f{color:#bbb;background:#fff}</style>', "low contrast"),
], ids=["wide", "overlap", "label", "contrast"])
def test_the_audit_sees_what_it_looks_for(chromium: Any, html: str, said: str) -> None:
    page = chromium.new_page(viewport=PHONE)
    page.set_content(f"<!doctype html><body>{html}</body>")
    with pytest.raises(AssertionError, match=said):
        audit(page)
    page.close()
