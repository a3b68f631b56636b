"""rewards.program.config: every rule of the program file, each refusal naming file, key and reason.

Each case writes a real TOML file into tmp_path: a valid base program with one value
changed (or removed), then loads it the way ``loyalty serve`` does.
"""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from dataclasses import replace
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rewards.errors import ConfigError
from rewards.program.config import (
    DEMO_PROGRAM_PATH,
    SUPPORTED_LANGUAGES,
    ProgramConfig,
    RewardRule,
    TierRule,
    from_settings,
    load_program_file,
    parse_program,
    to_settings,
)


class _Delete:
    """"Remove this key" in a case (named, so test ids are the same in every process)."""

    def __repr__(self) -> str:
        return "DELETE"


DELETE = _Delete()

BASE: dict[str, Any] = {
    "program": {"name": "Bean There Coffee", "currency": "USD", "timezone": "America/New_York",
                "languages": ["en", "es"], "quiet_hours": "21:00-09:00"},
    "earning": {"points_per_unit": 10, "rounding": "down", "per_visit": 0, "pending_days": 0,
                "join_bonus": 50, "birthday_bonus": 100},
    "expiry": {"after_days": 365, "remind_days_before": 14},
    "tier_rules": {"window_days": 365},
    "tiers": [{"name": "Bronze", "threshold": 0, "multiplier": 1.0},
              {"name": "Gold", "threshold": 3000, "multiplier": 1.5}],
    "rewards": [{"id": "free-coffee", "name": "Free coffee", "kind": "free_item", "cost": 500, "value": "0",
                 "min_tier": "Bronze", "stock": 100, "code_valid_days": 30},
                {"id": "pastry", "name": "Free pastry", "kind": "free_item", "cost": 300}],
    "referrals": {"referrer_points": 200, "referee_points": 100, "qualify_on": "first_purchase",
                  "min_purchase": "5.00", "max_per_month": 10},
    "promotions": {"max_per_member_per_week": 2},
}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (int, float, date, time)):
        return value.isoformat() if isinstance(value, (date, time)) else repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def dump(data: dict[str, Any]) -> str:
    """Enough of a TOML writer for these documents: tables, arrays of tables, scalars."""
    lines: list[str] = []
    for name, body in data.items():
        if isinstance(body, list) and all(isinstance(item, dict) for item in body) and body:
            for item in body:
                lines += [f"[[{name}]]", *(f"{k} = {toml_value(v)}" for k, v in item.items()), ""]
        elif isinstance(body, dict):
            lines += [f"[{name}]", *(f"{k} = {toml_value(v)}" for k, v in body.items()), ""]
        else:
            lines.insert(0, f"{name} = {toml_value(body)}")
    return "\n".join(lines)


def write(tmp_path: Path, text: str, name: str = "program.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def changed(path: str, value: Any) -> dict[str, Any]:
    """BASE with one key set (or removed with DELETE): "earning.rounding", "rewards.1.cost"."""
    data = copy.deepcopy(BASE)
    *parents, key = path.split(".")
    target: Any = data
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(key)] = value
    elif value is DELETE:
        del target[key]
    else:
        target[key] = value
    return data


def refusal(tmp_path: Path, data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as error:
        load_program_file(write(tmp_path, dump(data)))
    return str(error.value)


# --- what loads ---------------------------------------------------------------------


def test_the_base_program_loads(tmp_path: Path) -> None:
    config = load_program_file(write(tmp_path, dump(BASE)))
    assert config.name == "Bean There Coffee" and config.slug == "bean-there-coffee"
    assert config.quiet_hours == (time(21, 0), time(9, 0))
    assert config.rewards[1] == RewardRule("pastry", "Free pastry", "free_item", 300, "0", None, None, None, None,
                                           None, 30, None)


def test_the_demo_file_loads_as_the_brief_describes() -> None:
    config = load_program_file(DEMO_PROGRAM_PATH)
    assert DEMO_PROGRAM_PATH.name == "demo_program.toml" and DEMO_PROGRAM_PATH.parent.name == "program"
    assert (config.name, config.currency, config.timezone) == ("Bean There Coffee", "USD", "America/New_York")
    assert config.languages == ("en", "es") and config.default_language == "en"
    assert config.quiet_hours == (time(21, 0), time(9, 0))
    assert (config.earning.points_per_unit, config.earning.rounding) == (Decimal(10), "down")
    assert (config.earning.join_bonus, config.earning.birthday_bonus) == (50, 100)
    assert (config.expiry.after_days, config.expiry.remind_days_before) == (365, 14)
    assert config.tiers == (TierRule("Bronze", 0, Decimal("1.0")), TierRule("Silver", 1000, Decimal("1.25")),
                            TierRule("Gold", 3000, Decimal("1.5")))
    by_id = {r.id: r for r in config.rewards}
    assert list(by_id) == ["free-coffee", "pastry", "five-off", "gold-mug"]
    assert (by_id["free-coffee"].kind, by_id["free-coffee"].cost, by_id["free-coffee"].stock) == ("free_item", 500, 100)
    assert (by_id["pastry"].name, by_id["pastry"].cost) == ("Free pastry", 300)
    assert (by_id["five-off"].name, by_id["five-off"].kind, by_id["five-off"].value, by_id["five-off"].cost) == (
        "$5 off", "fixed_discount", "5.00", 800)
    mug = by_id["gold-mug"]
    assert (mug.name, mug.kind, mug.cost, mug.min_tier, mug.stock) == ("Branded mug", "custom", 1500, "Gold", 20)
    r = config.referrals
    assert (r.referrer_points, r.referee_points, r.qualify_on, r.min_purchase, r.max_per_month) == (
        200, 100, "first_purchase", Decimal("5.00"), 10)
    assert config.promotions.max_per_member_per_week == 2
    assert config.tier_by_name("Gold") == config.tiers[-1] and config.tier_by_name("Platinum") is None


def test_the_demo_file_explains_every_key_it_sets() -> None:
    # a merchant copies this file: each key, the first time it appears, says what it does
    seen: set[str] = set()
    for line in DEMO_PROGRAM_PATH.read_text(encoding="utf-8").splitlines():
        key = line.split("=")[0].strip()
        if "=" in line and not line.startswith("#") and key not in seen:
            seen.add(key)
            assert "#" in line.split("=", 1)[1], f"no comment on: {line}"


def test_a_small_file_gets_the_documented_defaults(tmp_path: Path) -> None:
    text = '[program]\nname = "Tiny"\ncurrency = "EUR"\ntimezone = "Europe/Madrid"\n'
    config = load_program_file(write(tmp_path, text))
    assert config.languages == ("en",) and config.quiet_hours is None and config.slug == "tiny"
    e = config.earning
    assert (e.rounding, e.per_visit, e.pending_days, e.join_bonus, e.birthday_bonus, e.survey_bonus) == (
        "down", 0, 0, 0, 0, 0)
    assert (config.expiry.after_days, config.expiry.remind_days_before) == (0, 14)
    assert config.tier_rules.window_days == 365
    assert config.tiers == (TierRule("Member", 0, Decimal("1.0")),)
    assert config.rewards == ()
    r = config.referrals
    assert (r.referrer_points, r.referee_points, r.qualify_on, r.min_purchase, r.max_per_month) == (
        0, 0, "first_purchase", Decimal("0"), 10)
    assert config.promotions.max_per_member_per_week == 2


def test_reward_defaults_and_every_optional_reward_key(tmp_path: Path) -> None:
    reward = {"id": "summer_10", "name": "10% off", "kind": "percent_discount", "cost": 700, "value": "10",
              "min_tier": "Gold", "stock": 0, "per_member_limit": 1, "valid_from": date(2026, 6, 1),
              "valid_until": date(2026, 8, 31), "code_valid_days": 7, "description": "Summer only"}
    config = load_program_file(write(tmp_path, dump(changed("rewards.1", reward))))
    assert config.rewards[1] == RewardRule("summer_10", "10% off", "percent_discount", 700, "10", "Gold", 0, 1,
                                           date(2026, 6, 1), date(2026, 8, 31), 7, "Summer only")
    assert config.rewards[0].per_member_limit is None and config.rewards[0].code_valid_days == 30


@pytest.mark.parametrize(("name", "slug"), [
    ("Bean There Coffee", "bean-there-coffee"),
    ("  Café & Co. — Downtown!  ", "caf-co-downtown"),
    ("Joe's #1 Diner", "joe-s-1-diner"),
    ("x" * 80, "x" * 64),
])
def test_the_slug_is_made_from_the_name(name: str, slug: str) -> None:
    config = parse_program(changed("program.name", name))
    assert config.slug == slug


def test_an_explicit_slug_wins() -> None:
    assert parse_program(changed("program.slug", "bean-2")).slug == "bean-2"


def test_tiers_are_sorted_by_threshold_and_multipliers_are_exact(tmp_path: Path) -> None:
    tiers = [{"name": "Gold", "threshold": 3000, "multiplier": 1.5},
             {"name": "Silver", "threshold": 1000, "multiplier": 1.1},
             {"name": "Bronze", "threshold": 0}]
    config = load_program_file(write(tmp_path, dump(changed("tiers", tiers))))
    assert [t.name for t in config.tiers] == ["Bronze", "Silver", "Gold"]
    assert config.tiers[1].multiplier == Decimal("1.1") and config.tiers[0].multiplier == Decimal(1)


@pytest.mark.parametrize(("value", "expected"), [(10, Decimal(10)), (2.5, Decimal("2.5")), (0.1, Decimal("0.1")),
                                                 (0, Decimal(0))])
def test_points_per_unit_becomes_an_exact_decimal(value: Any, expected: Decimal) -> None:
    assert parse_program(changed("earning.points_per_unit", value)).earning.points_per_unit == expected


@pytest.mark.parametrize(("text", "hours"), [
    ("21:00-09:00", (time(21), time(9))), ("08:30-12:00", (time(8, 30), time(12))), ("0:00 - 6:15", (time(0), time(6, 15))),
])
def test_quiet_hours_may_wrap_midnight(text: str, hours: tuple[time, time]) -> None:
    assert parse_program(changed("program.quiet_hours", text)).quiet_hours == hours


@pytest.mark.parametrize(("currency", "kind", "value"), [
    ("USD", "fixed_discount", "5"), ("USD", "fixed_discount", "0.50"), ("JPY", "fixed_discount", "500"),
    ("KWD", "fixed_discount", "1.250"), ("USD", "percent_discount", "100"), ("USD", "percent_discount", 12.5),
    ("USD", "custom", "mug"),
])
def test_reward_values_that_fit_their_kind(currency: str, kind: str, value: Any) -> None:
    data = changed("rewards.1", {"id": "r", "name": "R", "kind": kind, "cost": 1, "value": value})
    data["program"]["currency"] = currency
    assert parse_program(data).rewards[1].value == str(value)


def test_dates_may_be_written_as_strings_too() -> None:
    data = changed("rewards.0.valid_from", "2026-01-01")
    data["rewards"][0]["valid_until"] = date(2026, 1, 1)
    reward = parse_program(data).rewards[0]
    assert reward.valid_from == reward.valid_until == date(2026, 1, 1)


def test_supported_languages_are_english_and_spanish() -> None:
    assert SUPPORTED_LANGUAGES == ("en", "es")
    assert parse_program(changed("program.languages", ["es", "en"])).default_language == "es"


@pytest.mark.parametrize(("program", "region"), [
    ({}, "US"),  # America/New_York
    ({"timezone": "Europe/Madrid"}, "ES"),
    ({"timezone": "US/Pacific"}, "US"),  # an old name of a zone
    ({"timezone": "UTC"}, None),  # no country: numbers need their +country code
    ({"country": "mx"}, "MX"),
    ({"timezone": "UTC", "country": "GB"}, "GB"),
])
def test_phone_numbers_are_read_in_the_country_given_or_the_time_zones(program: dict[str, str],
                                                                      region: str | None) -> None:
    data = copy.deepcopy(BASE)
    data["program"].update(program)
    config = parse_program(data)
    assert config.phone_region == region
    assert from_settings(to_settings(config)) == config


# --- what is refused ----------------------------------------------------------------

# (key path in BASE, new value or DELETE, where the message points, the reason it gives)
WRONG: list[tuple[str, Any, str, str]] = [
    # [program]
    ("program.name", DELETE, "[program] name", "is required"),
    ("program.name", "  ", "[program] name", 'must be a non-empty string, got the string "  "'),
    ("program.name", 7, "[program] name", "must be a non-empty string, got the number 7"),
    ("program.slug", "Bean There", "[program] slug", 'must be lowercase letters, digits and dashes, at most 64 (got "Bean There")'),
    ("program.slug", "-bean", "[program] slug", "must be lowercase letters"),
    ("program.slug", "b" * 65, "[program] slug", "at most 64"),
    ("program.country", "USA", "[program] country", 'must be a country code like "US" or "ES" (ISO 3166, two letters), got "USA"'),
    ("program.country", "XX", "[program] country", 'must be a country code like "US"'),
    ("program.country", 1, "[program] country", "must be a non-empty string"),
    ("program.currency", DELETE, "[program] currency", "is required"),
    ("program.currency", "DOLLARS", "[program] currency", 'must be an ISO 4217 code like USD or EUR (got "DOLLARS")'),
    ("program.currency", "usd", "[program] currency", 'did you mean "USD"?'),
    ("program.timezone", DELETE, "[program] timezone", "is required"),
    ("program.timezone", "Mars/Base", "[program] timezone", 'must be a time zone name like America/New_York (got "Mars/Base")'),
    ("program.timezone", "america/new_york", "[program] timezone", 'did you mean "America/New_York"?'),
    ("program.timezone", "../etc/passwd", "[program] timezone", "must be a time zone name"),
    ("program.languages", [], "[program] languages", 'must be a non-empty list like ["en", "es"], got a list'),
    ("program.languages", "en", "[program] languages", 'must be a non-empty list like ["en", "es"], got the string "en"'),
    ("program.languages", ["en", 1], "[program] languages", "must be a non-empty list"),
    ("program.languages", ["en", "fr"], "[program] languages", '"fr" is not a shipped language (shipped: en, es)'),
    ("program.languages", ["en", "es", "en"], "[program] languages", 'lists "en" twice'),
    ("program.quiet_hours", "9pm-9am", "[program] quiet_hours", 'must look like "21:00-09:00", 24-hour clock (got "9pm-9am")'),
    ("program.quiet_hours", "25:00-09:00", "[program] quiet_hours", 'must look like "21:00-09:00"'),
    ("program.quiet_hours", "21:00-21:00", "[program] quiet_hours", "start and end are the same time"),
    ("program.quiet_hours", 21, "[program] quiet_hours", "must be a non-empty string, got the number 21"),
    # ASCII digits only: \d, int() and Decimal() read "２１" and "٠٩" as numbers a merchant did not see
    ("program.quiet_hours", "２１:００-０９:００", "[program] quiet_hours", 'must look like "21:00-09:00"'),
    ("program.langauges", ["en"], "[program] langauges", 'is not a known key; did you mean "languages"?'),
    # [earning]
    ("earning.points_per_unit", -1, "[earning] points_per_unit", "must be at least 0 (got -1)"),
    ("earning.points_per_unit", "lots", "[earning] points_per_unit", 'must be a number, got "lots"'),
    ("earning.points_per_unit", True, "[earning] points_per_unit", "must be a number, got a boolean (true)"),
    ("earning.points_per_unit", float("inf"), "[earning] points_per_unit", "must be a finite number"),
    ("earning.points_per_unit", [1], "[earning] points_per_unit", "must be a number, got a list"),
    ("earning.points_per_unit", "１٠", "[earning] points_per_unit", 'must be a number, got "１٠"'),
    ("earning.rounding", "sideways", "[earning] rounding", 'must be one of down, nearest, up (got "sideways")'),
    ("earning.rounding", 1, "[earning] rounding", "must be one of down, nearest, up (got the number 1)"),
    ("earning.per_visit", -1, "[earning] per_visit", "must be at least 0 (got -1)"),
    ("earning.per_visit", True, "[earning] per_visit", "must be a whole number, got a boolean (true)"),
    ("earning.per_visit", 2.5, "[earning] per_visit", "must be a whole number, got the number 2.5"),
    ("earning.pending_days", -3, "[earning] pending_days", "must be at least 0 (got -3)"),
    ("earning.join_bonus", "50", "[earning] join_bonus", 'must be a whole number, got the string "50"'),
    ("earning.join_bonus", False, "[earning] join_bonus", "must be a whole number, got a boolean (false)"),
    ("earning.birthday_bonus", -100, "[earning] birthday_bonus", "must be at least 0 (got -100)"),
    ("earning.survey_bonus", -1, "[earning] survey_bonus", "must be at least 0 (got -1)"),
    ("earning.join_bonsu", 5, "[earning] join_bonsu", 'is not a known key; did you mean "join_bonus"?'),
    # [expiry] and [tier_rules]
    ("expiry.after_days", -1, "[expiry] after_days", "must be at least 0 (got -1)"),
    ("expiry.after_days", "never", "[expiry] after_days", 'must be a whole number, got the string "never"'),
    ("expiry.remind_days_before", -14, "[expiry] remind_days_before", "must be at least 0 (got -14)"),
    ("tier_rules.window_days", 0, "[tier_rules] window_days", "must be at least 1 (got 0)"),
    ("tier_rules.window_days", True, "[tier_rules] window_days", "must be a whole number, got a boolean (true)"),
    # [[tiers]]
    ("tiers.1.name", "Bronze", '[[tiers]] #2 (name "Bronze") name', '"Bronze" is used by another tier'),
    ("tiers.1.threshold", 0, '[[tiers]] #2 (name "Gold") threshold', "0 is used by another tier"),
    ("tiers.1.threshold", -5, '[[tiers]] #2 (name "Gold") threshold', "must be at least 0 (got -5)"),
    ("tiers.1.threshold", True, '[[tiers]] #2 (name "Gold") threshold', "must be a whole number, got a boolean (true)"),
    ("tiers.1.threshold", DELETE, '[[tiers]] #2 (name "Gold") threshold', "is required"),
    ("tiers.1.name", DELETE, "[[tiers]] #2 name", "is required"),
    ("tiers.1.multiplier", 0, '[[tiers]] #2 (name "Gold") multiplier', "must be more than 0 (got 0)"),
    ("tiers.1.multiplier", -1.5, '[[tiers]] #2 (name "Gold") multiplier', "must be more than 0 (got -1.5)"),
    ("tiers.1.multipler", 2, '[[tiers]] #2 (name "Gold") multipler', 'is not a known key; did you mean "multiplier"?'),
    ("tiers.0.threshold", 10, "[[tiers]]", "one tier must have threshold = 0 (where every member starts)"),
    # [[rewards]]
    ("rewards.1.id", "Free Pastry", '[[rewards]] #2 (id "Free Pastry") id', 'must be lowercase letters, digits, "-" or "_" (got "Free Pastry")'),
    ("rewards.1.id", "-pastry", '[[rewards]] #2 (id "-pastry") id', "must be lowercase letters"),
    ("rewards.1.id", "free-coffee", '[[rewards]] #2 (id "free-coffee") id', '"free-coffee" is used by another reward'),
    ("rewards.1.id", DELETE, "[[rewards]] #2 id", "is required"),
    ("rewards.1.name", DELETE, '[[rewards]] #2 (id "pastry") name', "is required"),
    ("rewards.1.kind", "voucher", '[[rewards]] #2 (id "pastry") kind', 'must be one of free_item, fixed_discount, percent_discount, custom (got "voucher")'),
    ("rewards.1.kind", DELETE, '[[rewards]] #2 (id "pastry") kind', "is required"),
    ("rewards.1.cost", 0, '[[rewards]] #2 (id "pastry") cost', "must be at least 1 (got 0)"),
    ("rewards.1.cost", 2.5, '[[rewards]] #2 (id "pastry") cost', "must be a whole number, got the number 2.5"),
    ("rewards.1.cost", True, '[[rewards]] #2 (id "pastry") cost', "must be a whole number, got a boolean (true)"),
    ("rewards.1.cost", DELETE, '[[rewards]] #2 (id "pastry") cost', "is required"),
    ("rewards.1.value", True, '[[rewards]] #2 (id "pastry") value', 'must be a string like "5.00", got a boolean (true)'),
    ("rewards.0.min_tier", "Platinum", '[[rewards]] #1 (id "free-coffee") min_tier', '"Platinum" is not a tier (tiers: Bronze, Gold)'),
    ("rewards.0.stock", -1, '[[rewards]] #1 (id "free-coffee") stock', "must be at least 0 (got -1)"),
    ("rewards.0.stock", "many", '[[rewards]] #1 (id "free-coffee") stock', 'must be a whole number, got the string "many"'),
    ("rewards.0.per_member_limit", 0, '[[rewards]] #1 (id "free-coffee") per_member_limit', "must be at least 1 (got 0)"),
    ("rewards.0.valid_from", "next week", '[[rewards]] #1 (id "free-coffee") valid_from', 'must be a date like 2026-12-31, got the string "next week"'),
    ("rewards.0.valid_until", datetime(2026, 1, 1, 9, 0), '[[rewards]] #1 (id "free-coffee") valid_until', "must be a date like 2026-12-31, got the date-time"),
    ("rewards.0.code_valid_days", 0, '[[rewards]] #1 (id "free-coffee") code_valid_days', "must be at least 1 (got 0)"),
    ("rewards.0.description", "", '[[rewards]] #1 (id "free-coffee") description', 'must be a non-empty string, got the string ""'),
    ("rewards.0.colour", "red", '[[rewards]] #1 (id "free-coffee") colour', "is not a known key"),
    ("rewards.0.stok", 5, '[[rewards]] #1 (id "free-coffee") stok', 'is not a known key; did you mean "stock"?'),
    # [referrals] and [promotions]
    ("referrals.referrer_points", -200, "[referrals] referrer_points", "must be at least 0 (got -200)"),
    ("referrals.referee_points", True, "[referrals] referee_points", "must be a whole number, got a boolean (true)"),
    ("referrals.qualify_on", "signup", "[referrals] qualify_on", 'must be one of first_purchase, join (got "signup")'),
    ("referrals.min_purchase", "five", "[referrals] min_purchase", 'must be a number, got "five"'),
    ("referrals.min_purchase", -5, "[referrals] min_purchase", "must be at least 0 (got -5)"),
    ("referrals.min_purchase", "٥.٠٠", "[referrals] min_purchase", 'must be a number, got "٥.٠٠"'),
    ("referrals.min_purchase", "5²", "[referrals] min_purchase", 'must be a number, got "5²"'),
    ("referrals.max_per_month", -1, "[referrals] max_per_month", "must be at least 0 (got -1)"),
    ("promotions.max_per_member_per_week", -1, "[promotions] max_per_member_per_week", "must be at least 0 (got -1)"),
    ("promotions.max_per_member_per_week", True, "[promotions] max_per_member_per_week", "must be a whole number, got a boolean (true)"),
    ("promotions.max_per_member_per_day", 1, "[promotions] max_per_member_per_day", 'did you mean "max_per_member_per_week"?'),
]


@pytest.mark.parametrize(("path", "value", "where", "reason"), WRONG,
                         ids=[f"{p}={'DELETE' if v is DELETE else v!r}" for p, v, _, _ in WRONG])
def test_a_wrong_value_is_refused_naming_file_key_and_reason(
    tmp_path: Path, path: str, value: Any, where: str, reason: str
) -> None:
    message = refusal(tmp_path, changed(path, value))
    assert message.startswith(f"program.toml: {where}: "), message
    assert reason in message, message


# (the kind, the value, the reason); the reward is #2, id "deal", currency USD unless JPY
VALUE_WRONG: list[tuple[str, Any, str]] = [
    ("fixed_discount", "5.001", 'must be an amount off in USD with at most 2 decimals, like "5.00" (got "5.001")'),
    ("fixed_discount", "0", 'must be an amount off in USD with at most 2 decimals, like "5.00" (got "0")'),
    ("fixed_discount", "-5.00", '(got "-5.00")'),
    ("fixed_discount", "five", '(got "five")'),
    ("fixed_discount", "NaN", '(got "NaN")'),
    ("fixed_discount", "５.００", '(got "５.００")'),  # ASCII digits only
    ("percent_discount", "١٠", '(got "١٠")'),
    ("fixed_discount", DELETE, 'is required for kind fixed_discount'),
    ("percent_discount", "0", 'must be a percentage above 0 and at most 100, like "10" (got "0")'),
    ("percent_discount", "150", 'must be a percentage above 0 and at most 100, like "10" (got "150")'),
    ("percent_discount", "ten", '(got "ten")'),
    ("percent_discount", DELETE, "is required for kind percent_discount"),
]


@pytest.mark.parametrize(("kind", "value", "reason"), VALUE_WRONG, ids=[f"{k}={v!r}" for k, v, _ in VALUE_WRONG])
def test_a_reward_value_must_fit_its_kind(tmp_path: Path, kind: str, value: Any, reason: str) -> None:
    reward = {"id": "deal", "name": "Deal", "kind": kind, "cost": 100}
    if value is not DELETE:
        reward["value"] = value
    message = refusal(tmp_path, changed("rewards.1", reward))
    assert message.startswith('program.toml: [[rewards]] #2 (id "deal") value: '), message
    assert reason in message, message


def test_a_fixed_discount_respects_the_currency_decimals(tmp_path: Path) -> None:
    data = changed("rewards.1", {"id": "deal", "name": "Deal", "kind": "fixed_discount", "cost": 100, "value": "5.00"})
    data["program"]["currency"] = "JPY"
    assert "must be an amount off in JPY with at most 0 decimals" in refusal(tmp_path, data)


def test_valid_until_before_valid_from_is_refused(tmp_path: Path) -> None:
    data = changed("rewards.0.valid_from", date(2026, 5, 1))
    data["rewards"][0]["valid_until"] = date(2026, 4, 1)
    message = refusal(tmp_path, data)
    assert message == ('program.toml: [[rewards]] #1 (id "free-coffee") valid_until: '
                       "is before valid_from (2026-04-01 < 2026-05-01)")


@pytest.mark.parametrize(("text", "message"), [
    ("[programme]\nname = 'x'\n", 'program.toml: [programme]: is not a known table; did you mean "[program]"?'),
    ("[[reward]]\nid = 'x'\n", 'program.toml: [[reward]]: is not a known table; did you mean "[[rewards]]"?'),
    ("colour = 'red'\n", "program.toml: colour: is not a known table"),
    ("[earning]\npoints_per_unit = 1\n", "program.toml: [program]: is required"),
    ("earning = 5\n[program]\nname = 'x'\ncurrency = 'USD'\ntimezone = 'UTC'\n",
     "program.toml: [earning]: must be a table, got the number 5"),
    ("[tiers]\nname = 'Gold'\n[program]\nname = 'x'\ncurrency = 'USD'\ntimezone = 'UTC'\n",
     "program.toml: [[tiers]]: must be an array of tables ([[tiers]] blocks), got a table"),
    ("rewards = [1]\n[program]\nname = 'x'\ncurrency = 'USD'\ntimezone = 'UTC'\n",
     "program.toml: [[rewards]] #1: must be a table, got the number 1"),
    ("tiers = []\n[program]\nname = 'x'\ncurrency = 'USD'\ntimezone = 'UTC'\n",
     "program.toml: [[tiers]]: one tier must have threshold = 0"),
])
def test_the_shape_of_the_file_is_checked(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_program_file(write(tmp_path, text))
    assert str(error.value).startswith(message), str(error.value)


def test_a_file_that_is_not_toml_is_refused_with_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '[program]\nname = "unterminated\ncurrency = "USD"\n', name="shop.toml")
    with pytest.raises(ConfigError) as error:
        load_program_file(path)
    assert str(error.value).startswith("shop.toml: is not valid TOML: ")
    assert "line 2, column" in str(error.value)


def test_a_key_given_twice_is_a_toml_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"program.toml: is not valid TOML: .*line 3"):
        load_program_file(write(tmp_path, '[program]\nname = "a"\nname = "b"\n'))


def test_a_missing_unreadable_or_binary_file_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml: no such program file \(check LOYALTY_PROGRAM_FILE"):
        load_program_file(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="cannot read the program file"):
        load_program_file(tmp_path)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[program]")
    with pytest.raises(ConfigError, match="binary.toml: is not UTF-8 text"):
        load_program_file(binary)


def test_parse_program_names_its_source() -> None:
    with pytest.raises(ConfigError, match=r"^program file: \[earning\] rounding"):
        parse_program(changed("earning.rounding", "up-ish"))
    with pytest.raises(ConfigError, match=r"^api: \[earning\] rounding"):
        parse_program(changed("earning.rounding", "up-ish"), source="api")


def test_the_first_problem_is_reported_and_the_file_is_not_touched(tmp_path: Path) -> None:
    path = write(tmp_path, dump(changed("earning.rounding", "sideways")))
    before = path.read_bytes()
    with pytest.raises(ConfigError):
        load_program_file(path)
    assert path.read_bytes() == before


# --- settings round trip ------------------------------------------------------------


def full_config() -> ProgramConfig:
    data = changed("rewards.1", {"id": "summer", "name": "Summer", "kind": "percent_discount", "cost": 9,
                                 "value": "12.5", "per_member_limit": 2, "valid_from": date(2026, 6, 1),
                                 "valid_until": date(2026, 8, 31), "description": "Hot days"})
    data["earning"]["survey_bonus"] = 25
    data["earning"]["points_per_unit"] = 2.5
    return parse_program(data)


@pytest.mark.parametrize("make", [lambda: load_program_file(DEMO_PROGRAM_PATH), full_config,
                                  lambda: parse_program(changed("program.quiet_hours", DELETE))],
                         ids=["demo", "every-optional-key", "no-quiet-hours"])
def test_settings_are_plain_json_and_round_trip(make: Any) -> None:
    config = make()
    settings = to_settings(config)
    assert json.loads(json.dumps(settings)) == settings  # nothing JSON cannot hold
    assert from_settings(json.loads(json.dumps(settings))) == config


def test_settings_hold_decimals_dates_and_times_as_strings() -> None:
    settings = to_settings(full_config())
    assert settings["earning"]["points_per_unit"] == "2.5"
    assert settings["tiers"][1]["multiplier"] == "1.5"
    assert settings["rewards"][1]["valid_from"] == "2026-06-01"
    assert settings["quiet_hours"] == ["21:00:00", "09:00:00"]
    assert settings["languages"] == ["en", "es"]


def test_from_settings_fills_keys_added_later_and_refuses_damaged_ones() -> None:
    config = full_config()
    settings = to_settings(config)
    del settings["earning"]["survey_bonus"]
    for reward in settings["rewards"]:
        del reward["description"]
    older = from_settings(settings)
    assert older.earning.survey_bonus == 0 and older.rewards[1].description is None
    assert older == replace(config, earning=replace(config.earning, survey_bonus=0),
                            rewards=tuple(replace(r, description=None) for r in config.rewards))
    del settings["expiry"]["after_days"]
    with pytest.raises(ConfigError, match="program settings: stored settings are incomplete"):
        from_settings(settings)
    with pytest.raises(ConfigError, match="program settings"):
        from_settings({"slug": "x"})


def test_the_config_module_stays_free_of_delivery_layers() -> None:
    forbidden = ("flask", "telegram", "twilio", "apscheduler", "bot", "channels", "web", "scheduler")
    code = ("import sys, rewards.program.config; "
            f"print([m for m in sys.modules if m.split('.')[0] in {forbidden!r}])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.stdout.strip() == "[]"
