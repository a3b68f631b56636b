"""The clock's summaries of the figures (rewards/metrics/summaries.py) give exactly the
figures read from the events alone: for today's periods, for periods in the past, after
refunds of summed-up days, after today's purchases and members, and after a past written
later (``loyalty demo --busy``)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from test_api import BEN, Shop, any_shop, shop  # noqa: F401 - fixtures

from rewards import members
from rewards.metrics import cohorts as cohorts_module
from rewards.metrics import events
from rewards.metrics.accounting import points_by_day
from rewards.metrics.cohorts import Cohort, cohorts
from rewards.metrics.figures import for_period
from rewards.models import Member, MetricCohorts, MetricDay, MetricWindow, Purchase
from scheduler import jobs
from web import demo_history

NOW = datetime(2026, 6, 15, 19, 30, tzinfo=UTC)  # 15:30 in New York, the demo program's zone
PERIODS: list[dict[str, Any]] = [
    {"days": 1}, {"days": 7}, {"days": 30}, {"days": 90},
    {"start": "2026-04-01", "end": "2026-04-30"}, {"start": "2026-05-20", "end": "2026-06-15"},
]


def figures(shop: Shop, summaries: bool, **period: Any) -> dict[str, Any]:
    with shop.rt.transaction() as session:
        program, config = shop.rt.program(session)
        return for_period(session, program.id, config, NOW, summaries=summaries, **period).to_json()


def accounting(shop: Shop, summaries: bool) -> list[tuple[object, ...]]:
    with shop.rt.transaction() as session:
        program, config = shop.rt.program(session)
        return [row.row() for row in points_by_day(session, program.id, config.timezone, NOW.date() - timedelta(days=100),
                                                   NOW.date(), NOW, summaries=summaries)]


def cohort_table(shop: Shop, summaries: bool) -> list[Cohort]:
    with shop.rt.transaction() as session:
        program, config = shop.rt.program(session)
        return cohorts(session, program.id, config.timezone, NOW.date(), NOW.date(), summaries=summaries)


def same_either_way(shop: Shop) -> None:
    for period in PERIODS:
        assert figures(shop, True, **period) == figures(shop, False, **period), period
    assert accounting(shop, True) == accounting(shop, False)
    assert cohort_table(shop, True) == cohort_table(shop, False)


def history(shop: Shop, customers: int) -> None:
    with shop.rt.transaction() as session:
        program, config = shop.rt.program(session)
        demo_history.add_history(session, program, config, NOW - timedelta(hours=1), customers=customers, days=150)


def sum_up(shop: Shop) -> int:
    """The clock's metrics job at NOW: how many rows it wrote."""
    return jobs.run_metrics(shop.rt.sessions, shop.program_id, NOW, ()).looked_at


def rows(shop: Shop) -> tuple[int, int, int]:
    with shop.rt.transaction() as session:
        return tuple(session.scalar(select(func.count()).select_from(table)) or 0  # type: ignore[return-value]
                     for table in (MetricDay, MetricWindow, MetricCohorts))


def test_the_summaries_give_the_figures_the_events_give(any_shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    shop = any_shop
    shop.rt.clock = lambda: NOW
    history(shop, 40)
    result = jobs.run_metrics(shop.rt.sessions, shop.program_id, NOW, ())
    assert result.changed >= 100 and "metrics:" in result.line(), result  # the report counts the days that ended
    days, windows, tables = rows(shop)
    # every day that ended; for 1, 7, 30 and 90 days, the period so far and the one before; the cohorts
    assert days >= 100 and windows == 8 and tables == 1, (days, windows, tables)
    assert sum_up(shop) == 0, "a second run at the same time sums up nothing again"
    same_either_way(shop)

    # The dashboard's periods read the windows, not every member's events.
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the window was read from the events")

    with monkeypatch.context() as patched:
        patched.setattr(events, "window_counts", refuse)
        patched.setattr(cohorts_module, "read", refuse)
        for days_back in (7, 30, 90):
            figures(shop, True, days=days_back)
        cohort_table(shop, True)

    # Refunds of summed-up days, and today's purchases and members, after the clock ran.
    with shop.rt.transaction() as session:
        old = session.execute(select(Purchase.receipt_id, Purchase.created_at, Member.phone)
                              .join(Member, Member.id == Purchase.member_id)
                              .where(Purchase.refunded_at.is_(None)).order_by(Purchase.created_at)).all()
    for days_back in (0, 3, 20, 45, 100):  # today (summed up so far), in the periods and in the ones before
        receipt = [r for r, made, _ in old if NOW - made > timedelta(days=days_back)][-1]
        refunded = shop.post(f"/purchases/{receipt}/refund")
        assert refunded.status_code == 200, refunded.json
    with shop.rt.transaction() as session:  # two customers join today
        program, config = shop.rt.program(session)
        for n in (1, 2):
            identity = members.get_identity(session, program.id, "telegram", f"7770{n}", NOW)
            members.join(session, program, config, identity, NOW, phone=f"+1555777000{n}", language="en")
    with shop.rt.transaction() as session:  # a member quiet for months writes to us today
        quiet = session.scalars(select(Member).where(Member.phone.is_not(None), ~Member.id.in_(
            select(Purchase.member_id).where(Purchase.created_at > NOW - timedelta(days=100)))).limit(1)).one()
        members.touch(session, quiet.program_id, quiet.id, NOW, "America/New_York")
    for n, customer in enumerate([old[-1].phone, BEN, "+15557770001", "+15557770002"]):  # regulars and the new
        bought = shop.post("/purchases", {"customer": customer, "amount": "20.00", "receipt_id": f"TODAY-{n}"})
        assert bought.status_code == 201, bought.json
    assert figures(shop, True, days=1)["purchases"]["count"] >= 3
    same_either_way(shop)

    # A past written later: its days are summed up again, and meanwhile read from the events.
    history(shop, 60)
    assert rows(shop)[0] < days and rows(shop)[2] == 0
    same_either_way(shop)
    assert sum_up(shop) > 0
    same_either_way(shop)

    # Ten minutes on, the clock makes today's row and windows again and says nothing of it.
    later = jobs.run_metrics(shop.rt.sessions, shop.program_id, NOW + timedelta(minutes=10), ())
    assert later.changed == 0 and later.looked_at >= 5, later
    same_either_way(shop)
