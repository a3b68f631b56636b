"""``loyalty metrics`` and ``GET /api/v1/metrics`` show the figures worked out by hand
(tests/metrics_program.py), the same on both, on SQLite and PostgreSQL; wrong periods are
refused naming what was wrong."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import metrics_program as story
import pytest
from metrics_program import StoryShop, story_shop


@pytest.fixture(params=["sqlite", "postgres"])
def shop(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoryShop]:
    with story_shop(request.param, tmp_path) as made:
        yield made


def test_the_cli_and_the_api_give_the_figures_worked_out_by_hand(shop: StoryShop) -> None:
    result = shop.cli("metrics", "--from", "2026-03-01", "--to", "2026-03-07", "--json")
    assert result.exit_code == 0, result.output
    from_cli = json.loads(result.output)
    response = shop.api("?from=2026-03-01&to=2026-03-07")
    assert response.status_code == 200, response.get_json()
    from_api = response.get_json()
    assert {path: story.pick(from_cli, path) for path in story.EXPECTED} == story.EXPECTED
    assert from_api == from_cli


def test_the_text_shows_each_figure_beside_the_previous_period(shop: StoryShop) -> None:
    result = shop.cli("metrics", "--from", "2026-03-01", "--to", "2026-03-07")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "2026-03-01 to 2026-03-07 (7 days; before: 2026-02-22 to 2026-02-28), amounts in USD"
    assert lines[1].split() == ["members", "5", "2"]
    assert "retention rate" in result.output and " 50.0% " in result.output


def test_days_counts_back_from_today_in_the_programs_time_zone(shop: StoryShop) -> None:
    # story.NOW is 2026-03-09 12:00 UTC, 08:00 in New York: the last 9 days are Mar 1 to 9
    document = shop.api("?days=9").get_json()
    assert document["period"] == {"from": "2026-03-01", "to": "2026-03-09", "days": 9}
    assert document["members"]["new"] == 4  # C D E F


@pytest.mark.parametrize(("query", "args", "words"), [
    ("?from=2026-03-08&to=2026-03-01", ("--from", "2026-03-08", "--to", "2026-03-01"), "is after the last day"),
    ("?from=March", ("--from", "March"), "must be a date like 2026-03-31"),
    ("?days=0", ("--days", "0"), "must be from 1 to"),
    ("?days=7&from=2026-03-01", ("--days", "7", "--from", "2026-03-01"), "not both"),
])
def test_a_wrong_period_is_refused_naming_it(shop: StoryShop, query: str, args: tuple[str, ...], words: str) -> None:
    response = shop.api(query)
    assert response.status_code == 422 and words in response.get_json()["message"]
    result = shop.cli("metrics", *args)
    assert result.exit_code == 1 and words in result.output and result.output.startswith("Error: ")


def test_an_unknown_parameter_is_refused(shop: StoryShop) -> None:
    response = shop.api("?since=2026-03-01")
    assert response.status_code == 422 and '"since" is not a parameter' in response.get_json()["message"]
