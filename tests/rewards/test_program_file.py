"""The program file: a file with every table loads; every wrong value is refused naming the key."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from rewards.errors import ConfigError
from rewards.program.config import DEMO_PROGRAM_PATH, from_settings, load_program_file, parse_program, to_settings

EXAMPLE = '''
[program]
name = "Bean There Coffee"
currency = "USD"
timezone = "America/New_York"
languages = ["en", "es"]
quiet_hours = "21:00-09:00"

[earning]
points_per_unit = 10
rounding = "down"
per_visit = 0
pending_days = 0
join_bonus = 50
birthday_bonus = 100

[expiry]
after_days = 365
remind_days_before = 14

[tier_rules]
window_days = 365

[[tiers]]
name = "Bronze"
threshold = 0
multiplier = 1.0

[[tiers]]
name = "Gold"
threshold = 3000
multiplier = 1.5

[[rewards]]
id = "free-coffee"
name = "Free coffee"
kind = "free_item"
cost = 500
value = "0"
min_tier = "Bronze"
stock = 100
code_valid_days = 30

[referrals]
referrer_points = 200
referee_points = 100
qualify_on = "first_purchase"
min_purchase = "5.00"
max_per_month = 10

[promotions]
max_per_member_per_week = 2
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "program.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_spec_example_loads_as_written(tmp_path: Path) -> None:
    config = load_program_file(write(tmp_path, EXAMPLE))
    assert config.slug == "bean-there-coffee" and config.default_language == "en"
    assert [(t.name, t.threshold, t.multiplier) for t in config.tiers] == [
        ("Bronze", 0, Decimal("1.0")), ("Gold", 3000, Decimal("1.5"))
    ]
    assert config.rewards[0].stock == 100 and config.referrals.min_purchase == Decimal("5.00")
    assert str(config.quiet_hours[0]) == "21:00:00"


def test_the_demo_file_loads_and_survives_the_database_round_trip() -> None:
    config = load_program_file(DEMO_PROGRAM_PATH)
    assert from_settings(to_settings(config)) == config
    assert len(config.rewards) >= 3 and config.tier_by_name("Gold") is not None


def test_defaults_fill_what_a_small_file_leaves_out() -> None:
    config = parse_program({"program": {"name": "Tiny", "currency": "EUR", "timezone": "Europe/Madrid"}})
    assert config.tiers[0].name and config.tiers[0].threshold == 0
    assert config.expiry.after_days == 0 and config.earning.rounding == "down" and config.rewards == ()


# (path in the TOML, value as TOML text, the words the error must contain)
WRONG = [
    ("program.currency", '"DOLLARS"', '[program] currency: must be an ISO 4217 code like USD or EUR (got "DOLLARS")'),
    ("program.timezone", '"Mars/Base"', "[program] timezone: must be a time zone name"),
    ("program.languages", '["en", "fr"]', '[program] languages: "fr" is not a shipped language'),
    ("program.languages", "[]", "[program] languages: must be a non-empty list"),
    ("program.quiet_hours", '"9pm-9am"', '[program] quiet_hours: must look like "21:00-09:00"'),
    ("program.slug", '"Bean There"', "[program] slug: must be lowercase letters"),
    ("earning.rounding", '"sideways"', '[earning] rounding: must be one of down, nearest, up (got "sideways")'),
    ("earning.points_per_unit", '"lots"', '[earning] points_per_unit: must be a number, got "lots"'),
    ("earning.points_per_unit", "-1", "[earning] points_per_unit: must be at least 0"),
    ("earning.join_bonus", "true", "[earning] join_bonus: must be a whole number, got a boolean (true)"),
    ("earning.join_bonus", "2.5", "[earning] join_bonus: must be a whole number, got the number 2.5"),
    ("earning.pending_days", "-3", "[earning] pending_days: must be at least 0 (got -3)"),
    ("earning.join_bonsu", "5", '[earning] join_bonsu: is not a known key; did you mean "join_bonus"?'),
    ("expiry.after_days", '"never"', "[expiry] after_days: must be a whole number"),
    ("tier_rules.window_days", "0", "[tier_rules] window_days: must be at least 1"),
    ("referrals.qualify_on", '"signup"', "[referrals] qualify_on: must be one of first_purchase, join"),
    ("referrals.min_purchase", '"five"', "[referrals] min_purchase: must be a number"),
    ("promotions.max_per_member_per_week", "-1", "[promotions] max_per_member_per_week: must be at least 0"),
]


@pytest.mark.parametrize(("key", "value", "message"), WRONG, ids=[f"{k}={v}" for k, v, _ in WRONG])
def test_a_wrong_value_is_refused_naming_file_key_and_reason(tmp_path: Path, key: str, value: str, message: str) -> None:
    table, name = key.split(".")
    lines = EXAMPLE.splitlines()
    start = lines.index(f"[{table}]")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    body = [line for line in lines[start + 1:end] if not line.startswith(f"{name} =")]
    lines[start + 1:end] = [f"{name} = {value}", *body]
    with pytest.raises(ConfigError) as error:
        load_program_file(write(tmp_path, "\n".join(lines)))
    assert str(error.value).startswith("program.toml: ")
    assert message in str(error.value)


def rewards_with(**changes: object) -> str:
    reward = {"id": "free-coffee", "name": "Free coffee", "kind": "free_item", "cost": 500} | changes
    body = "\n".join(f"{k} = {v!r}".replace("'", '"') if isinstance(v, str) else f"{k} = {v}" for k, v in reward.items())
    return EXAMPLE.split("[[rewards]]")[0] + "[[rewards]]\n" + body + "\n" + "[referrals]" + EXAMPLE.split("[referrals]")[1]


REWARD_WRONG = [
    ({"kind": "voucher"}, '[[rewards]] #1 (id "free-coffee") kind: must be one of free_item'),
    ({"cost": 0}, '[[rewards]] #1 (id "free-coffee") cost: must be at least 1 (got 0)'),
    ({"min_tier": "Platinum"}, 'min_tier: "Platinum" is not a tier (tiers: Bronze, Gold)'),
    ({"kind": "fixed_discount", "value": "5.001"}, "value: must be an amount off in USD with at most 2 decimals"),
    ({"kind": "percent_discount", "value": "150"}, "value: must be a percentage above 0 and at most 100"),
    ({"stock": -1}, "stock: must be at least 0"),
    ({"per_member_limit": 0}, "per_member_limit: must be at least 1"),
    ({"valid_from": "2026-05-01", "valid_until": "2026-04-01"}, "valid_until: is before valid_from"),
    ({"id": "Free Coffee"}, 'id: must be lowercase letters, digits, "-" or "_"'),
    ({"colour": "red"}, "colour: is not a known key"),
]


@pytest.mark.parametrize(("changes", "message"), REWARD_WRONG, ids=[str(c) for c, _ in REWARD_WRONG])
def test_a_wrong_reward_is_refused_naming_which_one(tmp_path: Path, changes: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as error:
        load_program_file(write(tmp_path, rewards_with(**changes)))
    assert message in str(error.value)


def test_duplicate_reward_ids_and_tiers_without_a_start_are_refused(tmp_path: Path) -> None:
    twice = EXAMPLE.replace("[referrals]", EXAMPLE[EXAMPLE.index("[[rewards]]"):EXAMPLE.index("[referrals]")] + "[referrals]")
    with pytest.raises(ConfigError, match='id: "free-coffee" is used by another reward'):
        load_program_file(write(tmp_path, twice))
    no_start = EXAMPLE.replace("threshold = 0", "threshold = 10")
    with pytest.raises(ConfigError, match="one tier must have threshold = 0"):
        load_program_file(write(tmp_path, no_start))


def test_files_that_are_not_toml_or_missing_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"program.toml: is not valid TOML: .*line 2"):
        load_program_file(write(tmp_path, '[program]\nname = "unterminated\n'))
    with pytest.raises(ConfigError, match="no such program file"):
        load_program_file(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match=r'\[programme\]: is not a known table; did you mean "\[program\]"'):
        parse_program({"programme": {}}, "x.toml")


def test_to_settings_is_plain_json() -> None:
    import json

    config = load_program_file(DEMO_PROGRAM_PATH)
    settings = json.loads(json.dumps(to_settings(config)))
    assert from_settings(settings) == config
    assert from_settings(settings) != replace(config, name="Other")
