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
