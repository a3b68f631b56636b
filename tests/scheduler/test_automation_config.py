"""The program file's [automations] table: defaults, and every wrong value named."""
from __future__ import annotations

import pytest

from rewards.errors import ConfigError
from rewards.program.config import from_settings, parse_program, to_settings
from rewards.program.config_automations import Automations

BASE = {"program": {"name": "Tiny", "currency": "USD", "timezone": "America/New_York"}}


def test_defaults_keep_what_was_promised_and_leave_unasked_messages_off() -> None:
    config = parse_program(dict(BASE))
    assert config.automations == Automations("09:00", True, True, True, 0, 0, 30)
    full = parse_program({**BASE, "automations": {"run_at": "7:05", "points_expiry": False, "win_back_days": 45,
                                                  "survey_after_hours": 3, "survey_every_days": 60}})
    assert full.automations.run_time == (7, 5) and full.automations.run_at == "07:05"
    assert from_settings(to_settings(full)) == full


@pytest.mark.parametrize(("table", "message"), [
    ({"run_at": "25:00"}, '[automations] run_at: must be a time of day like "09:00", 24-hour clock (got "25:00")'),
    ({"run_at": "０９:００"}, '[automations] run_at: must be a time of day like "09:00", 24-hour clock (got "０９:００")'),
    ({"birthday": "yes"}, '[automations] birthday: must be true or false, got the string "yes"'),
    ({"win_back_days": -1}, "[automations] win_back_days: must be at least 0 (got -1)"),
    ({"survey_after_hours": 1.5}, "[automations] survey_after_hours: must be a whole number, got the number 1.5"),
    ({"survey_every_days": 0}, "[automations] survey_every_days: must be at least 1 (got 0)"),
    ({"win_back": 30}, '[automations] win_back: is not a known key; did you mean "win_back_days"?'),
])
def test_a_wrong_value_is_refused_by_name(table: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as refused:
        parse_program({**BASE, "automations": table}, source="program.toml")
    assert str(refused.value) == f"program.toml: {message}"
