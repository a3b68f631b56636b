"""The dashboard's figures (rewards/metrics/) against a small program worked out by hand,
on both databases; the daily series and the points accounting add up to the period's
figures; every definition is the one docs/metrics.md gives."""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import metrics_program as story
import pytest
from sqlalchemy.orm import Session

from rewards.metrics.accounting import points_by_day
from rewards.metrics.cohorts import cohorts
from rewards.metrics.definitions import DEFINITIONS
from rewards.metrics.figures import compute
from rewards.models import Program
from rewards.program.config import ProgramConfig

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


@pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
def test_every_figure_is_the_one_worked_out_by_hand(session: Session, program: Program,
                                                   demo_config: ProgramConfig) -> None:
    story.build(session, program, demo_config)
    session.commit()
    result = compute(session, program.id, demo_config, story.START, story.END, story.NOW).to_json()
    got = {path: story.pick(result, path) for path in story.EXPECTED}
    assert got == story.EXPECTED
    assert result["rewards"] == [{"reward": "pastry", "name": "Free pastry", "redeemed": 1, "points": 300}]
    assert result["members"]["by_tier"] == {"Bronze": 6} and result["members"]["by_channel"] == {"terminal": 6}
    assert result["previous"]["period"] == {"from": "2026-02-22", "to": "2026-02-28", "days": 7}


@pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
def test_the_days_add_up_to_the_period(session: Session, program: Program, demo_config: ProgramConfig) -> None:
    story.build(session, program, demo_config)
    session.commit()
    result = compute(session, program.id, demo_config, story.START, story.END, story.NOW).to_json()
    daily = result["daily"]
    assert [d["date"] for d in daily] == [f"2026-03-0{i}" for i in range(1, 8)]
    assert sum(d["purchases"] for d in daily) == 3 and sum(d["new_members"] for d in daily) == 3
    assert sum(Decimal(d["sales"]) for d in daily) == Decimal("36.00")
    assert sum(d["points_earned"] for d in daily) == story.EXPECTED["points.earned"]
    by_date = {d["date"]: d for d in daily}
    assert by_date["2026-03-07"]["new_members"] == 1  # E, at 23:30 in New York
    assert by_date["2026-03-02"]["purchases"] == 1 and by_date["2026-03-03"]["purchases"] == 1

    rows = points_by_day(session, program.id, demo_config.timezone, story.START, story.END, story.NOW)
    assert rows[0].opening == 250 and rows[-1].closing == story.EXPECTED["points.outstanding"]
    for before, after in zip(rows, rows[1:], strict=False):
        assert before.closing == after.opening
    assert rows[4].row() == ("2026-03-05", 1090, 0, 80, 300, 0, 0, 0, 710)


def test_the_outstanding_points_have_a_value_when_the_program_says_what_a_point_is_worth(
        session: Session, program: Program, demo_config: ProgramConfig) -> None:
    story.build(session, program, demo_config)
    config = replace(demo_config, point_value=Decimal("0.01"))
    result = compute(session, program.id, config, story.START, story.END, story.NOW).to_json()
    assert result["points"]["outstanding_value"] == "7.60"


def test_a_period_with_nothing_in_it_has_no_rates(session: Session, program: Program,
                                                  demo_config: ProgramConfig) -> None:
    result = compute(session, program.id, demo_config, date(2026, 1, 1), date(2026, 1, 30), story.NOW).to_json()
    assert result["members"]["total"] == 0 and result["purchases"]["average"] is None
    assert result["retention_rate"] is None and result["redemption_rate"] is None and result["nps"]["score"] is None


@pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
def test_cohorts_by_month_of_first_purchase(session: Session, program: Program, demo_config: ProgramConfig) -> None:
    story.build(session, program, demo_config)
    table = cohorts(session, program.id, demo_config.timezone, date(2026, 3, 31), date(2026, 4, 2), months=2)
    # February: A and B first bought; in March A bought again. March: C (D's was refunded).
    assert [(c.month, c.members, c.shares) for c in table] == [
        (date(2026, 2, 1), 2, [1.0, 0.5]), (date(2026, 3, 1), 1, [1.0])]
    # While March goes on, the table ends with February: a month not over would look like leaving.
    going_on = cohorts(session, program.id, demo_config.timezone, date(2026, 3, 31), story.NOW.date(), months=2)
    assert [(c.month, c.members, c.shares) for c in going_on] == [(date(2026, 2, 1), 2, [1.0])]


def test_each_definition_is_said_in_the_same_words_in_the_docs() -> None:
    text = " ".join(DOCS.read_text(encoding="utf-8").split())
    missing = {k: v for k, v in DEFINITIONS.items() if f"**`{k}`**: {v}" not in text}
    assert not missing, f"docs/metrics.md does not say: {missing}"
