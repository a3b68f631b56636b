"""The program file's ``[automations]`` table: which of the clock's jobs run, and when.

Kept apart from ``rewards.program.config`` (which reads the rest of the file) to keep both small.
Pure: no database, no clock; must not import APScheduler (scheduler/ reads these rules).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rewards.program.config_fields import MISSING, Table, describe

_CLOCK = re.compile(r"([0-9]{1,2}):([0-9]{2})")  # ASCII: \d takes "０９:００"


@dataclass(frozen=True)
class Automations:
    """Defaults: what was promised before the table existed (expiry, birthdays and tier
    changes) is on; messages nobody asked for (win-back, the survey) are off."""

    run_at: str = "09:00"  # the daily jobs' wall time in the program's time zone, "HH:MM"
    points_expiry: bool = True  # expire points ([expiry] after_days) and remind before
    birthday: bool = True  # [earning] birthday_bonus and a greeting on the day
    tier_review: bool = True  # move members down (or up) as the tier window rolls on
    win_back_days: int = 0  # a message after this many days without activity; 0: off
    survey_after_hours: int = 0  # ask the 0-10 question this long after a purchase; 0: off
    survey_every_days: int = 30  # at most one question per member in this many days

    @property
    def run_time(self) -> tuple[int, int]:
        hour, minute = self.run_at.split(":")
        return int(hour), int(minute)


def parse_automations(source: str, data: Any) -> Automations:
    t = Table(source, "[automations]", data)
    defaults = Automations()
    run_at = t.string("run_at", defaults.run_at)
    match = _CLOCK.fullmatch(run_at)
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        t.fail("run_at", f'must be a time of day like "09:00", 24-hour clock (got "{run_at}")')
    switches = {key: _switch(t, key, getattr(defaults, key)) for key in ("points_expiry", "birthday", "tier_review")}
    automations = Automations(
        run_at=f"{int(match.group(1)):02d}:{match.group(2)}",
        win_back_days=t.integer("win_back_days", 0),
        survey_after_hours=t.integer("survey_after_hours", 0),
        survey_every_days=t.integer("survey_every_days", defaults.survey_every_days, minimum=1),
        **switches,
    )
    t.finish()
    return automations


def _switch(t: Table, key: str, default: bool) -> bool:
    value = t.take(key)
    if value is MISSING:
        return default
    if not isinstance(value, bool):
        t.fail(key, f"must be true or false, got {describe(value)}")
    return value
