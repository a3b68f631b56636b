"""/dashboard in a real browser (Chromium, Playwright) on a phone (390x844) and a desktop
window (1280x800): no horizontal scrolling, and a figure reads what ``loyalty metrics
--json`` says for the same period. Every wait is Playwright's own: nothing sleeps."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import DESKTOP, PHONE, expect, no_horizontal_scroll, serving
from conftest import PASSWORD, add_user
from metrics_program import StoryShop, story_shop

PERIOD = "from=2026-03-01&to=2026-03-07"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[StoryShop, str]]:
    with story_shop("sqlite", tmp_path) as shop, serving(shop.app) as base:
        yield shop, base


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_dashboard_reads_what_loyalty_metrics_says_without_scrolling_sideways(
        chromium: Any, served: tuple[StoryShop, str], viewport: dict[str, int]) -> None:
    shop, base = served
    email = add_user(shop, "manager")
    page = chromium.new_page(viewport=viewport)
    page.goto(f"{base}/dashboard?{PERIOD}")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    expect(page.locator("h1")).to_have_text("Dashboard")
    result = shop.cli("metrics", "--from", "2026-03-01", "--to", "2026-03-07", "--json")
    figures = json.loads(result.output)
    card = page.locator('[data-figure="members.active"] .value')
    expect(card).to_have_text(str(figures["members"]["active"]))
    expect(page.locator('[data-figure="purchases.count"] .value')).to_have_text(str(figures["purchases"]["count"]))
    expect(page.locator("svg.chart").first).to_be_visible()
    no_horizontal_scroll(page)
    page.select_option("#p-days", "7")
    page.click(".period button")
    expect(page.locator("#p-days")).to_have_value("7")
    no_horizontal_scroll(page)
    page.close()
