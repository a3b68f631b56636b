"""Recurring schedules: standard cron meaning, in the program's zone, across DST changes."""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from rewards.errors import InvalidInput
from rewards.promotions import cron

NY = "America/New_York"


def local(instants: list[datetime], zone: str = NY) -> list[str]:
    return [i.astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M %Z") for i in instants]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_saturdays_at_ten_by_name_or_number_and_sunday_is_0_or_7() -> None:
    after = utc("2026-03-02 15:00")  # Monday
    assert local(cron.upcoming("0 10 * * SAT", after, NY, 2)) == ["Sat 2026-03-07 10:00 EST", "Sat 2026-03-14 10:00 EDT"]
    assert cron.upcoming("0 10 * * 6", after, NY, 2) == cron.upcoming("0 10 * * sat", after, NY, 2)
    assert cron.upcoming("0 10 * * 0", after, NY, 3) == cron.upcoming("0 10 * * 7", after, NY, 3)
    assert local(cron.upcoming("0 10 * * 0", after, NY, 1)) == ["Sun 2026-03-08 10:00 EDT"]


def test_the_next_run_is_strictly_after() -> None:
    at_ten = utc("2026-03-07 15:00")  # Saturday 10:00 EST
    assert local([cron.next_run("0 10 * * SAT", at_ten, NY)]) == ["Sat 2026-03-14 10:00 EDT"]  # type: ignore[list-item]


def test_ten_oclock_stays_ten_oclock_across_both_changes() -> None:
    runs = cron.upcoming("0 10 * * *", utc("2026-03-06 16:00"), NY, 3)
    assert [r.strftime("%H:%M") for r in runs] == ["15:00", "14:00", "14:00"]  # UTC moves, the wall time does not
    assert local(runs) == ["Sat 2026-03-07 10:00 EST", "Sun 2026-03-08 10:00 EDT", "Mon 2026-03-09 10:00 EDT"]
    runs = cron.upcoming("0 10 * * *", utc("2026-10-31 16:00"), NY, 2)
    assert local(runs) == ["Sun 2026-11-01 10:00 EST", "Mon 2026-11-02 10:00 EST"]


def test_a_time_skipped_by_the_spring_change_runs_an_hour_later_once() -> None:
    runs = cron.upcoming("30 2 * * *", utc("2026-03-07 12:00"), NY, 3)
    assert local(runs) == ["Sun 2026-03-08 03:30 EDT", "Mon 2026-03-09 02:30 EDT", "Tue 2026-03-10 02:30 EDT"]


def test_a_time_repeated_by_the_autumn_change_runs_once() -> None:
    runs = cron.upcoming("30 1 * * *", utc("2026-10-31 12:00"), NY, 3)
    assert local(runs) == ["Sun 2026-11-01 01:30 EDT", "Mon 2026-11-02 01:30 EST", "Tue 2026-11-03 01:30 EST"]


def test_day_of_month_and_day_of_week_both_given_means_either() -> None:
    runs = cron.upcoming("0 9 1 * MON", utc("2026-03-02 15:00"), NY, 3)  # the 1st, or any Monday
    assert local(runs) == ["Mon 2026-03-09 09:00 EDT", "Mon 2026-03-16 09:00 EDT", "Mon 2026-03-23 09:00 EDT"]
    runs = cron.upcoming("0 9 1 * *", utc("2026-03-02 15:00"), NY, 2)
    assert local(runs) == ["Wed 2026-04-01 09:00 EDT", "Fri 2026-05-01 09:00 EDT"]


def test_lists_ranges_steps_months_and_shorthands() -> None:
    runs = cron.upcoming("0 9-17/4 * * mon-fri", utc("2026-03-02 15:00"), NY, 4)
    assert local(runs) == ["Mon 2026-03-02 13:00 EST", "Mon 2026-03-02 17:00 EST", "Tue 2026-03-03 09:00 EST",
                           "Tue 2026-03-03 13:00 EST"]
    assert local(cron.upcoming("0 12 25 DEC *", utc("2026-03-02 15:00"), NY, 1)) == ["Fri 2026-12-25 12:00 EST"]
    assert cron.parse("@weekly").expression == "@weekly"
    assert local(cron.upcoming("@monthly", utc("2026-03-02 15:00"), NY, 1)) == ["Wed 2026-04-01 00:00 EDT"]


def test_never_running_is_none() -> None:
    assert cron.next_run("0 0 30 2 *", utc("2026-01-01 00:00"), NY) is None


@pytest.mark.parametrize(("expression", "message"), [
    ("0 10 * *", "needs 5 fields"),
    ("60 10 * * *", "the minute must be 0 to 59 (got 60)"),
    ("0 24 * * *", "the hour must be 0 to 23"),
    ("0 10 * * SATURDAY", 'the day of week field has "SATURDAY", not a number'),
    ("0 10 5-1 * *", 'the day of month range "5-1" runs backwards'),
    ("*/0 * * * *", 'the minute step "/0"'),
    ("0 10 * 13 *", "the month must be 1 to 12"),
    ("0 １０ * * SAT", 'the hour field has "１０", not a number (digits 0-9)'),  # full-width
    ("٠ 10 * * *", 'the minute field has "٠", not a number (digits 0-9)'),  # Arabic-Indic
    ("0 10 1-٣ * *", 'the day of month field has "٣", not a number'),
    ("*/１５ * * * *", 'the minute step "/１５" must be a whole number above 0'),
    ("0 10 * * " + "0" * 5000, 'not a number (digits 0-9)'),
])
def test_wrong_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        cron.parse(expression)
    assert message in str(refused.value) and expression in str(refused.value)
