"""Periods in the program's time zone: inclusive local dates turned into UTC instants, and
the buckets SQL groups rows by (UTC hours, or minutes in a zone whose offset is not whole
hours: a bucket never straddles a local midnight), which Python then assigns to local days.
An hour is the text of a timestamp's first 13 characters on SQLite (cheaper than parsing
it) and ``date_trunc`` on PostgreSQL."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func

from rewards.errors import InvalidInput


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant a local day starts, in UTC."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class Period:
    start: date  # inclusive, local
    end: date  # inclusive, local
    zone: ZoneInfo

    @cached_property
    def begins(self) -> datetime:
        return midnight(self.start, self.zone)

    @cached_property
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

    @property
    def whole_hours(self) -> bool:
        """Whether every local midnight of the period falls on a UTC hour."""
        return all(midnight(d, self.zone).minute == 0 for d in [*self.dates(), self.end + timedelta(days=1)])


class Buckets:
    """The SQL expression that buckets a timestamp column, and which local day each bucket
    it returns falls in."""

    def __init__(self, period: Period, dialect: str) -> None:
        self.dialect = dialect
        step = timedelta(hours=1) if period.whole_hours else timedelta(minutes=1)
        self.unit, self.width = ("hour", 13) if period.whole_hours else ("minute", 16)
        self.day_of: dict[Any, date] = {}
        for day in period.dates():
            instant, ends = midnight(day, period.zone), midnight(day + timedelta(days=1), period.zone)
            while instant < ends:
                naive = instant.replace(tzinfo=None)
                self.day_of[naive if dialect == "postgresql" else str(naive)[:self.width]] = day
                instant += step

    def of(self, column: Any) -> Any:
        if self.dialect == "postgresql":
            return func.date_trunc(self.unit, column)
        return func.substr(column, 1, self.width)


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
