"""The birthday bonus: on the day, in the program's time zone, once a year."""
from __future__ import annotations

from datetime import UTC, date, datetime

from rewards import earning


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_paid_on_the_day_in_the_program_time_zone_once(session, join, demo_config, entries) -> None:  # type: ignore[no-untyped-def]
    member = join()
    member.birthday = date(1990, 5, 14)
    # 02:00 UTC on 14 May is still 13 May in New York: not yet.
    assert earning.birthday_bonus(session, demo_config, member, at("2026-05-14T02:00:00")) is None
    paid = earning.birthday_bonus(session, demo_config, member, at("2026-05-14T15:00:00"))
    assert paid is not None and paid.points == 100
    assert earning.birthday_bonus(session, demo_config, member, at("2026-05-14T20:00:00")) is None
    assert earning.birthday_bonus(session, demo_config, member, at("2027-05-14T15:00:00")) is not None
    assert entries(member) == [("join", 50), ("birthday", 100), ("birthday", 100)]
    session.commit()


def test_no_birthday_no_bonus(session, join, demo_config) -> None:  # type: ignore[no-untyped-def]
    member = join()
    assert earning.birthday_bonus(session, demo_config, member, at("2026-05-14T15:00:00")) is None
    session.commit()


def test_leap_day_birthdays_are_celebrated_on_the_28th() -> None:
    leap = date(2000, 2, 29)
    assert earning.is_birthday(leap, date(2027, 2, 28))
    assert not earning.is_birthday(leap, date(2028, 2, 28))
    assert earning.is_birthday(leap, date(2028, 2, 29))
