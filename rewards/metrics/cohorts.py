"""The monthly cohort table: members grouped by the local month of their first purchase
(refunded purchases left out), and for each later month the share of them who purchased
in it. Only the months shown are read: a member is in a cohort when they had no purchase
before the first month shown."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, select
from sqlalchemy.orm import Session

from rewards.metrics.periods import midnight
from rewards.models import Purchase


@dataclass(frozen=True)
class Cohort:
    month: date  # its first day
    members: int
    shares: list[float]  # month 0 (always 1.0), 1, 2... up to the last month shown


def month_starts(last: date, months: int) -> list[date]:
    """The first days of ``months`` months ending with the month of ``last``, and of the month after."""
    index = last.year * 12 + last.month - 1  # months since year 0
    return [date(i // 12, i % 12 + 1, 1) for i in range(index - months + 1, index + 2)]


def cohorts(session: Session, program_id: int, zone: str, last: date, months: int = 6) -> list[Cohort]:
    tz = ZoneInfo(zone)
    starts = month_starts(last, months)
    edges = [midnight(d, tz) for d in starts]
    month = case(*((Purchase.created_at < edge, i) for i, edge in enumerate(edges[1:])), else_=months)
    kept = and_(Purchase.program_id == program_id, Purchase.refunded_at.is_(None))
    # Who bought before the first month shown: read from the purchases' time index alone,
    # once, rather than asked for each purchase shown.
    earlier = set(session.scalars(select(Purchase.member_id).distinct().where(kept, Purchase.created_at < edges[0])))
    bought = (select(Purchase.member_id, month.label("month"))
              .where(kept, Purchase.created_at >= edges[0], Purchase.created_at < edges[-1]).subquery())
    rows = session.execute(select(bought.c.member_id, bought.c.month).distinct())
    months_of: dict[int, set[int]] = defaultdict(set)
    for member_id, index in rows:
        if member_id not in earlier:
            months_of[member_id].add(int(index))
    by_cohort: dict[int, list[int]] = defaultdict(lambda: [0] * months)
    sizes: dict[int, int] = defaultdict(int)
    for seen in months_of.values():
        first = min(seen)
        sizes[first] += 1
        for index in seen:
            by_cohort[first][index] += 1
    return [
        Cohort(starts[i], sizes[i], [round(by_cohort[i][k] / sizes[i], 4) for k in range(i, months)])
        for i in range(months) if sizes[i]
    ]
