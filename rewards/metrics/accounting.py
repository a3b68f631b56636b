"""The points accounting per day: what a shop's accountant asks for. Each local day's
opening outstanding points, what moved them, and the closing, so that every row reads
``opening + earned - refunded - redeemed + returned - expired + adjusted = closing`` and
each day opens where the one before closed."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from rewards.metrics.events import Points
from rewards.metrics.periods import Period
from rewards.metrics.summaries import Reader

COLUMNS = ("date", "opening", "earned", "refunded", "redeemed", "returned", "expired", "adjusted", "closing")


@dataclass(frozen=True)
class AccountingDay:
    day: date
    opening: int
    points: Points
    closing: int

    def row(self) -> tuple[object, ...]:
        p = self.points
        return (self.day.isoformat(), self.opening, p.earned, p.refunded, p.redeemed, p.returned, p.expired,
                p.adjusted, self.closing)


def points_by_day(session: Session, program_id: int, zone: str, start: date, end: date, now: datetime,
                  *, summaries: bool = True) -> list[AccountingDay]:
    tz = ZoneInfo(zone)
    reader = Reader(session, program_id, tz, now, summaries)
    period = Period(start, end, tz)
    _members, balance = reader.held_before(start)
    out = []
    for day, totals in reader.days(period).items():
        closing = balance + totals.points.net
        out.append(AccountingDay(day, balance, totals.points, closing))
        balance = closing
    return out
