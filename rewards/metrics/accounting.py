"""The points accounting per day: what a shop's accountant asks for. Each local day's
opening outstanding points, what moved them, and the closing, so that every row reads
``opening + earned - refunded - redeemed + returned - expired + adjusted = closing`` and
each day opens where the one before closed."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from rewards.metrics.figures import Points, ledger_by_day, outstanding_at
from rewards.metrics.periods import Period

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


def points_by_day(session: Session, program_id: int, zone: str, start: date, end: date) -> list[AccountingDay]:
    period = Period(start, end, ZoneInfo(zone))
    moved = ledger_by_day(session, program_id, period, session.get_bind().dialect.name)
    balance = outstanding_at(session, program_id, period.begins)
    out = []
    for day in period.dates():
        p = moved.get(day, Points())
        closing = balance + p.earned - p.refunded - p.redeemed + p.returned - p.expired + p.adjusted
        out.append(AccountingDay(day, balance, p, closing))
        balance = closing
    return out
