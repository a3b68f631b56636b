"""Local time: a recipient's time zone from their phone number, quiet hours in that zone,
and the merchant's "2026-12-05 10:00" read in the program's zone.

zoneinfo does the daylight-saving arithmetic: a local wall time is turned into an instant
with ``datetime.combine(day, time, tzinfo=zone)``, never by adding hours to an instant.
"""
from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_timezones

from rewards.errors import InvalidInput

_UNKNOWN = "Etc/Unknown"
# The dates a merchant may give: wide enough for any real one, and far enough from the ends
# of Python's calendar (years 1-9999) that moving to UTC or adding a day cannot overflow.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2199, 12, 31)


@functools.lru_cache(maxsize=10_000)
def zone_for_phone(phone: str | None, default: str) -> str:
    """The IANA zone of an E.164 number (phonenumbers' prefix data), or ``default``.

    A number spanning several zones (a mobile in Spain: Madrid or the Canaries) takes the
    program's zone when it is one of them, else the first; numbers with no zone (toll-free,
    555 test numbers) take the program's. Parsing costs about 40 µs a number, so sign-up
    stores the answer on the member (``members.timezone``) for campaigns to read."""
    if not phone:
        return default
    try:
        zones = [z for z in phone_timezones.time_zones_for_number(phonenumbers.parse(phone)) if z != _UNKNOWN]
    except phonenumbers.NumberParseException:
        return default
    if not zones or default in zones:
        return default
    return zones[0]


def in_quiet_hours(local: time, quiet: tuple[time, time]) -> bool:
    start, end = quiet
    if start < end:
        return start <= local < end
    return local >= start or local < end  # wraps midnight, like 21:00-09:00


@functools.lru_cache(maxsize=4096)  # a fan-out asks once per recipient, with one instant and a few zones
def quiet_hours_end(instant: datetime, zone: str, quiet: tuple[time, time] | None) -> datetime | None:
    """When quiet hours end if ``instant`` falls inside them in ``zone``; None if it does not.
    The end is that zone's wall time (09:00 is 09:00 on the day clocks change)."""
    if quiet is None:
        return None
    tz = ZoneInfo(zone)
    local = instant.astimezone(tz)
    if not in_quiet_hours(local.time().replace(tzinfo=None), quiet):
        return None
    start, end = quiet
    day = local.date()
    if start >= end and local.time().replace(tzinfo=None) >= start:
        day += timedelta(days=1)  # 22:00 tonight waits for tomorrow's 09:00
    ends = datetime.combine(day, end, tzinfo=tz).astimezone(UTC)
    return ends if ends > instant else instant


def parse_local(text: str, zone: str, what: str = "time", end_of_day: bool = False) -> datetime:
    """``2026-12-05 10:00`` (or ``2026-12-05T10:00``, or a bare date) as a wall time in
    ``zone``, returned in UTC. An ISO time with an offset is taken as it says. A bare date
    is its midnight, or with ``end_of_day`` the next midnight (``--until 2026-12-06`` means
    through that Sunday). A wall time that does not exist that day (clocks go forward) is
    refused rather than guessed, and so is a date outside ``FIRST_DAY``..``LAST_DAY``."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            naive = datetime.combine(date.fromisoformat(raw), time())
        else:
            naive = datetime.fromisoformat(raw.replace(" ", "T", 1))
    except ValueError:
        raise InvalidInput.about(what, f' "{text}" is not a date and time: write it like 2026-12-05 10:00'[:300]) from None
    if not FIRST_DAY <= naive.date() <= LAST_DAY:
        raise InvalidInput.about(what, f" {naive.date()} is out of range: give a date from {FIRST_DAY} to {LAST_DAY}")
    if len(raw) == 10 and end_of_day:
        naive += timedelta(days=1)
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    tz = ZoneInfo(zone)
    local = naive.replace(tzinfo=tz)
    back = local.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if back != naive:
        raise InvalidInput.about(what, f" {naive:%Y-%m-%d %H:%M} does not exist in {zone} (clocks go forward then)")
    return local.astimezone(UTC)


def show(instant: datetime | None, zone: str) -> str:
    """An instant as the merchant reads it: ``2026-12-05 10:00 EST``."""
    if instant is None:
        return "-"
    return instant.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")
