"""Periods in the program's time zone: inclusive local dates turned into UTC instants, and
the quarter-hour buckets SQL groups rows by (a bucket never straddles a local midnight,
even in zones half an hour off UTC), which Python then assigns to local days."""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, cast, func

from rewards.errors import InvalidInput

BUCKET_SECONDS = 900


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant a local day starts, in UTC."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class Period:
    start: date  # inclusive, local
    end: date  # inclusive, local
    zone: ZoneInfo

    @property
    def begins(self) -> datetime:
        return midnight(self.start, self.zone)

    @property
    def ends(self) -> datetime:
        """The instant after the period: the next day's midnight."""
        return midnight(self.end + timedelta(days=1), self.zone)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1), self.zone)

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def day_of_bucket(self) -> DayOfBucket:
        return DayOfBucket(self)


class DayOfBucket:
    """Which local day a bucket number (seconds since 1970 // 900) falls in."""

    def __init__(self, period: Period) -> None:
        self.dates = period.dates()
        self.starts = [int(midnight(d, period.zone).timestamp()) // BUCKET_SECONDS for d in self.dates]

    def __call__(self, bucket: int) -> date:
        return self.dates[max(0, bisect.bisect_right(self.starts, int(bucket)) - 1)]


def bucket(column: Any, dialect: str) -> Any:
    """The SQL bucket number of a UTC timestamp column (stored naive UTC)."""
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", column) / BUCKET_SECONDS), Integer)
    return cast(func.strftime("%s", column), Integer) / BUCKET_SECONDS


PRESETS = (7, 30, 90)  # the dashboard's choices, in days
MAX_DAYS = 3660  # ten years: a longer period is a typo


def choose(today: date, days: int | str | None = None, start: str | date | None = None,
           end: str | date | None = None) -> tuple[date, date]:
    """The period the caller asked for, as inclusive local dates: ``days`` (the last N days,
    today included) or ``start`` and ``end`` (``end`` alone defaults to today, ``start``
    alone to 30 days before ``end``); nothing: the last 30 days. Refuses with the name of
    what was wrong (``from``, ``to``, ``days``)."""
    if days not in (None, "") and (start or end):
        raise InvalidInput.about("days", ": give the last N days or a first and last day, not both")
    if start or end:
        last = _date(end, "to") if end else today
        first = _date(start, "from") if start else last - timedelta(days=29)
        if first > last:
            raise InvalidInput.about("from", f" ({first}) is after the last day ({last})")
    else:
        n = _days(days) if days not in (None, "") else 30
        first, last = today - timedelta(days=n - 1), today
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidInput.about("from", f": a period is at most {MAX_DAYS:,} days")
    return first, last


def _date(value: str | date, name: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput.about(name, f' must be a date like 2026-03-31 (got "{value[:40]}")') from None


def _days(value: int | str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise InvalidInput.about("days", f' must be a whole number of days (got "{str(value)[:40]}")') from None
    if not 1 <= n <= MAX_DAYS:
        raise InvalidInput.about("days", f" must be from 1 to {MAX_DAYS:,} (got {n})")
    return n
