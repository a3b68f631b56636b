"""/dashboard shows the figures worked out by hand (tests/metrics_program.py), each beside
the period before and with the sentence that says how it is computed; owners and managers
only; the points accounting CSV adds up; the heat map's colours keep their contrast."""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import metrics_program as story
import pytest
from conftest import sign_in
from metrics_program import StoryShop, story_shop

from rewards.metrics.definitions import DEFINITIONS

PERIOD = "?from=2026-03-01&to=2026-03-07"
CSS = Path(__file__).resolve().parents[3] / "web" / "console" / "static" / "dashboard.css"


@pytest.fixture(params=["sqlite", "postgres"])
def shop(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoryShop]:
    with story_shop(request.param, tmp_path) as made:
        yield made


def figure(page: str, key: str) -> tuple[str, str]:
    """A card's value and its "before" line, as the page shows them."""
    found = re.search(rf'data-figure="{re.escape(key)}">.*?<span class="value">([^<]*)</span>\s*'
                      rf'<span class="before">([^<]*)', page, re.S)
    assert found, f"no figure {key}"
    return found.group(1), found.group(2).strip()


def test_an_owner_sees_the_figures_worked_out_by_hand_beside_the_period_before(shop: StoryShop) -> None:
    client = sign_in(shop, "owner")
    response = client.get(f"/dashboard{PERIOD}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert figure(page, "members.total") == ("5", "before: 2")
    assert figure(page, "members.new") == ("3", "before: 2")
    assert figure(page, "members.active") == ("3", "before: 2")
    assert figure(page, "purchases.count") == ("3", "before: 2")
    assert figure(page, "purchases.sales") == ("$36.00", "before: $15.00")
    assert figure(page, "purchases.average") == ("$12.00", "before: $7.50")
    assert figure(page, "repeat_purchase_rate") == ("50%", "before: 0%")
    assert figure(page, "referral_rate") == ("33.3%", "before: 0%")
    assert figure(page, "retention_rate") == ("50%", "before: –")
    assert figure(page, "churn_rate") == ("50%", "before: –")
    assert figure(page, "nps.score") == ("33.3", "before: –")
    assert figure(page, "points.earned") == ("890", "before: 250")
    assert figure(page, "points.outstanding") == ("760", "before: 250")
    for key in ("members.total", "retention_rate", "nps.score", "points.outstanding", "cohorts"):
        assert DEFINITIONS[key].replace("'", "&#39;") in page  # the tooltip and the footnote
    assert "Free pastry" in page and 'class="chart"' in page
    assert "style=" not in page and "<script>" not in page  # the Content Security Policy allows neither


def test_a_manager_may_open_it_and_a_cashier_may_not(shop: StoryShop) -> None:
    assert sign_in(shop, "manager").get(f"/dashboard{PERIOD}").status_code == 200
    cashier = sign_in(shop, "cashier")
    assert cashier.get("/dashboard").status_code == 403
    assert cashier.get("/dashboard/points.csv").status_code == 403
    assert shop.app.test_client().get("/dashboard").status_code == 302  # not signed in: to /login


def test_a_wrong_period_says_so_and_shows_the_last_30_days(shop: StoryShop) -> None:
    page = sign_in(shop, "owner").get("/dashboard?from=2026-03-08&to=2026-03-01").get_data(as_text=True)
    assert "from (2026-03-08) is after the last day (2026-03-01)" in page
    assert "Feb 8, 2026 to Mar 9, 2026 (30 days)" in page


def test_the_points_accounting_per_day_reconciles(shop: StoryShop) -> None:
    response = sign_in(shop, "owner").get(f"/dashboard/points.csv{PERIOD}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["date"] for r in rows] == [f"2026-03-0{i}" for i in range(1, 8)]
    assert rows[0]["opening"] == "250" and rows[-1]["closing"] == "760"
    for row in rows:
        n = {k: int(v) for k, v in row.items() if k != "date"}
        assert n["opening"] + n["earned"] - n["refunded"] - n["redeemed"] + n["returned"] - n["expired"] \
            + n["adjusted"] == n["closing"]
    assert sum(int(r["earned"]) for r in rows) == 890 and sum(int(r["refunded"]) for r in rows) == 80


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_every_heat_map_colour_keeps_a_contrast_of_4_5_to_1() -> None:
    steps = re.findall(r"\.heat-(\d+) \{ background: (#[0-9a-f]{6}); color: (#[0-9a-f]{6}); \}", CSS.read_text())
    assert len(steps) == 11
    for step, background, text in steps:
        light, dark = sorted((_luminance(background), _luminance(text)), reverse=True)
        assert (light + 0.05) / (dark + 0.05) >= 4.5, f"heat-{step}"
    assert story.EXPECTED  # the same story as the other surfaces
