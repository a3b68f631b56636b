"""The monthly cohort table: members grouped by the local month of their first purchase
(refunded purchases left out), and for each later month the share of them who purchased
in it. Complete months only: a month still going on would show its cohorts as leaving.
Only the months shown are read: a member is in a cohort when they had no purchase before
the first month shown.

Six months of purchases are many rows at a busy shop, so the clock keeps the table of the
six complete months before today (``metric_cohorts``, with ``summaries.fill``); it is read
from the purchases again when a purchase of those months was refunded since."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, select
from sqlalchemy.orm import Session

from rewards.metrics.events import kept, refunded_since
from rewards.metrics.periods import midnight
from rewards.models import MetricCohorts, Purchase

MONTHS = 6  # the dashboard's table


@dataclass(frozen=True)
class Cohort:
    month: date  # its first day
    members: int
    shares: list[float]  # month 0 (always 1.0), 1, 2... up to the last month shown


def month_starts(last: date, months: int) -> list[date]:
    """The first days of ``months`` months ending with the month of ``last``, and of the month after."""
    index = last.year * 12 + last.month - 1  # months since year 0
    return [date(i // 12, i % 12 + 1, 1) for i in range(index - months + 1, index + 2)]


def last_complete_month(last: date, today: date) -> date:
    """A day of the last month that is over, ``last``'s own or the one before."""
    next_month = month_starts(last, 1)[-1]
    return last if next_month <= today else next_month.replace(day=1) - timedelta(days=32)


def cohorts(session: Session, program_id: int, zone: str, last: date, today: date, months: int = MONTHS,
            *, summaries: bool = True) -> list[Cohort]:
    """The table for ``months`` complete months, ending with ``last``'s month if it is over
    by ``today``, else the month before."""
    tz = ZoneInfo(zone)
    starts = month_starts(last_complete_month(last, today), months)
    row = _kept(session, program_id, tz, starts) if summaries else None
    if row is not None:
        return [Cohort(date.fromisoformat(m), n, shares) for m, n, shares in row.rows["cohorts"]]
    return read(session, program_id, tz, starts)


def _kept(session: Session, program_id: int, tz: ZoneInfo, starts: list[date]) -> MetricCohorts | None:
    """The table the clock kept for these months, if no purchase of theirs was refunded since."""
    row = session.get(MetricCohorts, (program_id, starts[0], len(starts) - 1))
    if row is None or refunded_since(session, program_id, row.cutoff, midnight(starts[0], tz), midnight(starts[-1], tz)):
        return None
    return row


def fill(session: Session, program_id: int, zone: str, today: date, cutoff: datetime) -> MetricCohorts | None:
    """The table the dashboard shows ``today``, read as of ``cutoff``, unless the one kept
    is still true. Returns the row to write, if any."""
    tz = ZoneInfo(zone)
    starts = month_starts(last_complete_month(today, today), MONTHS)
    if _kept(session, program_id, tz, starts) is not None:
        return None
    table = read(session, program_id, tz, starts, kept_at=cutoff)
    return MetricCohorts(program_id=program_id, first_month=starts[0], months=MONTHS, cutoff=cutoff,
                         rows={"cohorts": [[c.month.isoformat(), c.members, c.shares] for c in table]})


def read(session: Session, program_id: int, tz: ZoneInfo, starts: list[date],
         kept_at: datetime | None = None) -> list[Cohort]:
    """The table for the months beginning at ``starts`` (and ending before the last), from the purchases."""
    months = len(starts) - 1
    edges = [midnight(d, tz) for d in starts]
    month = case(*((Purchase.created_at < edge, i) for i, edge in enumerate(edges[1:])), else_=months)
    counted = and_(Purchase.program_id == program_id, kept(kept_at))
    # Who bought before the first month shown: read from the purchases' time index alone,
    # once, rather than asked for each purchase shown.
    earlier = set(session.scalars(select(Purchase.member_id).distinct().where(counted, Purchase.created_at < edges[0])))
    bought = (select(Purchase.member_id, month.label("month"))
              .where(counted, Purchase.created_at >= edges[0], Purchase.created_at < edges[-1]).subquery())
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
