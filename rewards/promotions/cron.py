"""Cron expressions for recurring campaigns, evaluated in the program's time zone.

Five fields, standard (Vixie) cron meaning: minute hour day-of-month month day-of-week,
with ``*``, lists, ranges, steps, month and day names, 0 or 7 for Sunday, and the
``@hourly @daily @weekly @monthly @yearly`` shorthands. When both day fields are
restricted a day matching either runs (as cron does). Numbers are ASCII digits 0-9 only.

Pure: zoneinfo only. It lives here, not in APScheduler, because the domain computes a
campaign's next run in the same transaction as the run itself (rewards may not import
APScheduler), and because APScheduler 3's ``CronTrigger.from_crontab`` reads numeric days
of week from Monday (``6`` is Sunday there), ANDs the two day fields, and fires twice in
the hour repeated when clocks go back.

Daylight saving: a time that does not exist (clocks go forward) runs at the same moment
one hour later in wall time, as cron does; a time that happens twice runs once, the first time.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from rewards.errors import InvalidInput
from rewards.inputs import ascii_digits

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_SHORTHANDS = {
    "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
}
# (name, lowest, highest, names for lowest.. upward)
_FIELDS = (
    ("minute", 0, 59, None), ("hour", 0, 23, None), ("day of month", 1, 31, None),
    ("month", 1, 12, _MONTHS), ("day of week", 0, 7, _DAYS),
)
SEARCH_YEARS = 5  # "0 0 30 2 *" never runs: give up after this long


@dataclass(frozen=True)
class Cron:
    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day of month is "*"
    any_weekday: bool  # day of week is "*"

    def runs_on(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_day, by_weekday = day.day in self.days, (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return by_day and by_weekday
        return by_day or by_weekday


def _bad(expression: str, reason: str) -> InvalidInput:
    return InvalidInput(f'cron "{expression}": {reason} (example: "0 10 * * SAT" is Saturdays at 10:00)',
                        reason="invalid")


def _number(text: str, expression: str, field: tuple) -> int:  # type: ignore[type-arg]
    name, low, high, names = field
    if names and text.lower() in names:
        return names.index(text.lower()) + low
    if not ascii_digits(text) or len(text) > 4:  # "１０" is not 10 here: digits 0-9 only
        raise _bad(expression, f'the {name} field has "{text}", not a number (digits 0-9)')
    value = int(text)
    if not low <= value <= high:
        raise _bad(expression, f"the {name} must be {low} to {high} (got {value})")
    return value


def _field(text: str, expression: str, field: tuple) -> set[int]:  # type: ignore[type-arg]
    name, low, high, _ = field
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not ascii_digits(step_text) or len(step_text) > 4 or int(step_text) == 0:
                raise _bad(expression, f'the {name} step "/{step_text}" must be a whole number above 0')
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            first, last = _number(a, expression, field), _number(b, expression, field)
            if first > last:
                raise _bad(expression, f'the {name} range "{base}" runs backwards')
        else:
            first = _number(base, expression, field)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return values


def parse(expression: str) -> Cron:
    """A checked cron expression; ``InvalidInput`` names what is wrong."""
    text = " ".join(expression.split())
    fields = _SHORTHANDS.get(text.lower(), text).split(" ")
    if len(fields) != 5:
        raise _bad(expression, f"needs 5 fields (minute hour day month weekday), got {len(fields)}")
    minutes, hours, days, months, weekdays = (_field(f, expression, spec) for f, spec in zip(fields, _FIELDS, strict=True))
    weekdays = {d % 7 for d in weekdays}  # 7 is Sunday too
    return Cron(text, tuple(sorted(minutes)), tuple(sorted(hours)), frozenset(days), frozenset(months),
                frozenset(weekdays), fields[2] == "*", fields[4] == "*")


def _instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall time. fold=0: a repeated time is its first occurrence, and
    a missing one is read with the offset before the change, which lands an hour later."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def next_run(cron: Cron | str, after: datetime, zone: str) -> datetime | None:
    """The first run strictly after ``after`` (UTC), or None if it never runs again."""
    if isinstance(cron, str):
        cron = parse(cron)
    tz = ZoneInfo(zone)
    day = after.astimezone(tz).date() - timedelta(days=1)  # a shifted missing time can land on the next day
    for _ in range(366 * SEARCH_YEARS):
        if cron.runs_on(day):
            # the minimum, not the first: a missing time shifted an hour later can pass a later wall time
            times = [_instant(day, time(h, m), tz) for h in cron.hours for m in cron.minutes]
            later = [t for t in times if t > after]
            if later:
                return min(later)
        day += timedelta(days=1)
    return None


def upcoming(cron: Cron | str, after: datetime, zone: str, count: int) -> list[datetime]:
    """The next ``count`` runs (fewer if it stops)."""
    runs: list[datetime] = []
    while len(runs) < count:
        found = next_run(cron, runs[-1] if runs else after, zone)
        if found is None:
            break
        runs.append(found)
    return runs
