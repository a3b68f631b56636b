"""``loyalty metrics`` and ``GET /api/v1/metrics`` show the figures worked out by hand
(tests/metrics_program.py), the same on both, on SQLite and PostgreSQL; wrong periods are
refused naming what was wrong."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import metrics_program as story
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from support import NO_POSTGRES, POSTGRES_URL, drop_postgres_schema, migrated_sqlite_url, postgres_schema_url

from rewards import apikeys
from rewards.program.config import DEMO_PROGRAM_PATH
from web import database
from web.app import create_app
from web.cli import cli
from web.settings import Settings


class Program:
    """An app on a fresh database holding the story's program, its clock at ``story.NOW``."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.rt = app.extensions["loyalty"]
        self.rt.clock = lambda: story.NOW
        with self.rt.transaction() as session:
            program, config = self.rt.program(session)
            story.build(session, program, config)
            _, key = apikeys.create(session, program.id, "reports", story.NOW)
        self.auth = {"Authorization": f"Bearer {key}"}

    def cli(self, *args: str) -> Any:
        return CliRunner().invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: self.app))

    def api(self, query: str) -> Any:
        return self.app.test_client().get(f"/api/v1/metrics{query}", headers=self.auth)


@pytest.fixture(params=["sqlite", "postgres"])
def shop(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Program]:
    schema = None
    if request.param == "postgres":
        if not POSTGRES_URL:
            pytest.skip(NO_POSTGRES)
        url, schema = postgres_schema_url()
    else:
        url = migrated_sqlite_url(tmp_path / "metrics.db")
    app = create_app(Settings.from_env({"DATABASE_URL": url, "LOYALTY_PROGRAM_FILE": str(DEMO_PROGRAM_PATH),
                                        "LOYALTY_QR_DIR": str(tmp_path / "qr")}))
    try:
        if schema:
            database.upgrade(app.extensions["loyalty"].engine)
        yield Program(app)
    finally:
        app.extensions["loyalty"].engine.dispose()
        if schema:
            drop_postgres_schema(schema)


def test_the_cli_and_the_api_give_the_figures_worked_out_by_hand(shop: Program) -> None:
    result = shop.cli("metrics", "--from", "2026-03-01", "--to", "2026-03-07", "--json")
    assert result.exit_code == 0, result.output
    from_cli = json.loads(result.output)
    response = shop.api("?from=2026-03-01&to=2026-03-07")
    assert response.status_code == 200, response.get_json()
    from_api = response.get_json()
    assert {path: story.pick(from_cli, path) for path in story.EXPECTED} == story.EXPECTED
    assert from_api == from_cli


def test_the_text_shows_each_figure_beside_the_previous_period(shop: Program) -> None:
    result = shop.cli("metrics", "--from", "2026-03-01", "--to", "2026-03-07")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "2026-03-01 to 2026-03-07 (7 days; before: 2026-02-22 to 2026-02-28), amounts in USD"
    assert lines[1].split() == ["members", "5", "2"]
    assert "retention rate" in result.output and " 50.0% " in result.output


def test_days_counts_back_from_today_in_the_programs_time_zone(shop: Program) -> None:
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
def test_a_wrong_period_is_refused_naming_it(shop: Program, query: str, args: tuple[str, ...], words: str) -> None:
    response = shop.api(query)
    assert response.status_code == 422 and words in response.get_json()["message"]
    result = shop.cli("metrics", *args)
    assert result.exit_code == 1 and words in result.output and result.output.startswith("Error: ")


def test_an_unknown_parameter_is_refused(shop: Program) -> None:
    response = shop.api("?since=2026-03-01")
    assert response.status_code == 422 and '"since" is not a parameter' in response.get_json()["message"]
