"""Local time: a recipient's zone from their number, quiet hours in that zone (across DST
changes), and the merchant's wall times."""
from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from rewards.errors import InvalidInput
from rewards.localtime import parse_local, quiet_hours_end, show, zone_for_phone

NY = "America/New_York"
QUIET = (time(21, 0), time(9, 0))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("phone", "zone"), [
    ("+12125550123", "America/New_York"),
    ("+13105550123", "America/Los_Angeles"),
    ("+34912345678", "Europe/Madrid"),
    ("+34612345678", "Europe/Madrid"),  # a mobile: Madrid or the Canaries; not the program's zone, so the first
    ("+15550001111", NY),  # 555 test numbers have no zone: the program's
    ("+18005551234", NY),  # toll-free spans every US zone, the program's among them
    (None, NY),
    ("garbage", NY),
])
def test_zone_for_phone(phone: str | None, zone: str) -> None:
    expected = "Atlantic/Canary" if phone == "+34612345678" else zone
    assert zone_for_phone(phone, NY) == expected


def test_a_spanish_mobile_takes_the_programs_zone_when_it_is_one_of_its_zones() -> None:
    assert zone_for_phone("+34612345678", "Europe/Madrid") == "Europe/Madrid"


def test_outside_quiet_hours_nothing_waits() -> None:
    assert quiet_hours_end(utc("2026-03-02 15:00"), NY, QUIET) is None  # 10:00 in New York
    assert quiet_hours_end(utc("2026-03-03 01:59"), NY, QUIET) is None  # 20:59
    assert quiet_hours_end(utc("2026-03-02 15:00"), NY, None) is None  # no quiet hours at all


def test_late_evening_waits_for_tomorrow_morning() -> None:
    assert quiet_hours_end(utc("2026-03-03 02:00"), NY, QUIET) == utc("2026-03-03 14:00")  # 21:00 -> 09:00 EST


def test_the_morning_after_the_spring_change_is_an_hour_earlier_in_utc() -> None:
    # Sunday 2026-03-08 00:00 EST; clocks go forward at 02:00, so 09:00 EDT is 13:00 UTC, not 14:00.
    assert quiet_hours_end(utc("2026-03-08 05:00"), NY, QUIET) == utc("2026-03-08 13:00")
    # Saturday 22:00 EST, the evening before: still the morning after the change.
    assert quiet_hours_end(utc("2026-03-08 03:00"), NY, QUIET) == utc("2026-03-08 13:00")


def test_the_morning_after_the_autumn_change_is_an_hour_later_in_utc() -> None:
    # Sunday 2026-11-01 00:00 EDT; clocks go back at 02:00, so 09:00 EST is 14:00 UTC.
    assert quiet_hours_end(utc("2026-11-01 04:00"), NY, QUIET) == utc("2026-11-01 14:00")
    # 01:30 happens twice that night; both wait for the same 09:00 EST.
    assert quiet_hours_end(utc("2026-11-01 05:30"), NY, QUIET) == utc("2026-11-01 14:00")
    assert quiet_hours_end(utc("2026-11-01 06:30"), NY, QUIET) == utc("2026-11-01 14:00")


def test_quiet_hours_that_do_not_wrap_midnight() -> None:
    lunch = (time(12, 0), time(14, 0))
    assert quiet_hours_end(utc("2026-03-02 17:30"), NY, lunch) == utc("2026-03-02 19:00")
    assert quiet_hours_end(utc("2026-03-02 19:00"), NY, lunch) is None


def test_each_recipient_in_their_own_zone() -> None:
    at = utc("2026-03-02 16:00")  # 11:00 New York, 08:00 Los Angeles, 17:00 Madrid
    assert quiet_hours_end(at, "America/Los_Angeles", QUIET) == utc("2026-03-02 17:00")
    assert quiet_hours_end(at, "Europe/Madrid", QUIET) is None


def test_wall_times_in_the_program_zone() -> None:
    assert parse_local("2026-12-05 10:00", NY) == utc("2026-12-05 15:00")
    assert parse_local("2026-07-04T10:00", NY) == utc("2026-07-04 14:00")
    assert parse_local("2026-12-05", NY) == utc("2026-12-05 05:00")
    assert parse_local("2026-12-06", NY, end_of_day=True) == utc("2026-12-07 05:00")
    assert parse_local("2026-12-05T10:00:00+01:00", NY) == utc("2026-12-05 09:00")
    assert show(utc("2026-12-05 15:00"), NY) == "2026-12-05 10:00 EST"


def test_a_wall_time_that_does_not_exist_is_refused() -> None:
    with pytest.raises(InvalidInput, match="2026-03-08 02:30 does not exist in America/New_York"):
        parse_local("2026-03-08 02:30", NY)
    with pytest.raises(InvalidInput, match='is not a date and time'):
        parse_local("next saturday", NY)
