"""The program file: one TOML file, validated with messages that name the key and reason.

``load_program_file`` refuses a wrong file with ``ConfigError`` such as
``program.toml: [earning] rounding: must be one of down, nearest, up (got "sideways")``.
The rules come back as frozen dataclasses; ``to_settings``/``from_settings`` turn them into
JSON for the programs table and back.

Notes on values: ``referrals.max_per_month = 0`` means no referral is accepted; expiry
``after_days = 0`` means points never expire.
"""
from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import asdict, dataclass, fields
from datetime import date, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel.numbers import get_currency_precision, list_currencies

from rewards.errors import ConfigError

SUPPORTED_LANGUAGES = ("en", "es")
DEMO_PROGRAM_PATH = Path(__file__).with_name("demo_program.toml")
REWARD_KINDS = ("free_item", "fixed_discount", "percent_discount", "custom")


@dataclass(frozen=True)
class TierRule:
    name: str
    threshold: int
    multiplier: Decimal


@dataclass(frozen=True)
class RewardRule:
    id: str
    name: str
    kind: str
    cost: int
    value: str
    min_tier: str | None
    stock: int | None
    per_member_limit: int | None
    valid_from: date | None
    valid_until: date | None
    code_valid_days: int
    description: str | None = None


@dataclass(frozen=True)
class Earning:
    points_per_unit: Decimal
    rounding: str
    per_visit: int
    pending_days: int
    join_bonus: int
    birthday_bonus: int
    survey_bonus: int = 0


@dataclass(frozen=True)
class Expiry:
    after_days: int
    remind_days_before: int


@dataclass(frozen=True)
class TierRules:
    window_days: int


@dataclass(frozen=True)
class Referrals:
    referrer_points: int
    referee_points: int
    qualify_on: str
    min_purchase: Decimal
    max_per_month: int


@dataclass(frozen=True)
class Promotions:
    max_per_member_per_week: int


@dataclass(frozen=True)
class ProgramConfig:
    slug: str
    name: str
    currency: str
    timezone: str
    languages: tuple[str, ...]
    quiet_hours: tuple[time, time] | None
    earning: Earning
    expiry: Expiry
    tier_rules: TierRules
    tiers: tuple[TierRule, ...]
    rewards: tuple[RewardRule, ...]
    referrals: Referrals
    promotions: Promotions

    @property
    def default_language(self) -> str:
        return self.languages[0]

    def tier_by_name(self, name: str) -> TierRule | None:
        return next((t for t in self.tiers if t.name == name), None)


# --- reading one table ----------------------------------------------------------------


class _Table:
    """One TOML table being read: every key taken is checked and remembered, so what is
    left over at the end is an unknown key."""

    def __init__(self, source: str, where: str, data: Any) -> None:
        self.source, self.where = source, where
        if not isinstance(data, dict):
            self.fail(None, f"must be a table, got {_kind(data)}")
        self.data: dict[str, Any] = data
        self.known: list[str] = []

    def fail(self, key: str | None, reason: str) -> None:
        raise ConfigError(f"{self.source}: {self.where}{' ' + key if key else ''}: {reason}")

    def _take(self, key: str, default: Any, required: bool) -> Any:
        self.known.append(key)
        if key not in self.data:
            if required:
                self.fail(key, "is required")
            return default
        return self.data[key]

    def string(self, key: str, default: str | None = None, *, required: bool = False) -> Any:
        value = self._take(key, default, required)
        if value is default:
            return value
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"must be a non-empty string, got {_kind(value)}")
        return value.strip()

    def integer(self, key: str, default: int | None = None, *, minimum: int = 0, required: bool = False) -> Any:
        value = self._take(key, default, required)
        if value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be a whole number, got {_kind(value)}")
        if value < minimum:
            self.fail(key, f"must be at least {minimum} (got {value})")
        return value

    def decimal(self, key: str, default: str, *, positive: bool = False) -> Decimal:
        value = self._take(key, default, False)
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            self.fail(key, f"must be a number, got {_kind(value)}")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            self.fail(key, f'must be a number, got "{value}"')
        if not number.is_finite() or number < 0 or (positive and number == 0):
            self.fail(key, f"must be {'more than' if positive else 'at least'} 0 (got {value})")
        return number

    def choice(self, key: str, options: tuple[str, ...], default: str | None = None, *, required: bool = False) -> Any:
        value = self._take(key, default, required)
        if value is not default and value not in options:
            self.fail(key, f'must be one of {", ".join(options)} (got "{value}")')
        return value

    def day(self, key: str) -> date | None:
        value = self._take(key, None, False)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        elif isinstance(value, date) and not hasattr(value, "hour"):
            return value
        self.fail(key, f"must be a date like 2026-12-31, got {_kind(value)}")
        return None

    def finish(self) -> None:
        for key in self.data:
            if key not in self.known:
                close = difflib.get_close_matches(key, self.known, n=1)
                self.fail(key, "is not a known key" + (f'; did you mean "{close[0]}"?' if close else ""))


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, str):
        return f'the string "{value}"'
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return {dict: "a table", list: "a list"}.get(type(value), type(value).__name__)


# --- the whole file -------------------------------------------------------------------

_TABLES = ("program", "earning", "expiry", "tier_rules", "tiers", "rewards", "referrals", "promotions")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_REWARD_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def load_program_file(path: str | os.PathLike[str]) -> ProgramConfig:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such program file (check LOYALTY_PROGRAM_FILE or the path given)") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the program file: {error.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: is not valid TOML: {error}") from None
    return parse_program(data, source=path.name)


def parse_program(data: dict[str, Any], source: str = "program file") -> ProgramConfig:
    for key in data:
        if key not in _TABLES:
            close = difflib.get_close_matches(key, _TABLES, n=1)
            raise ConfigError(f'{source}: [{key}]: is not a known table' + (f'; did you mean "[{close[0]}]"?' if close else ""))
    if "program" not in data:
        raise ConfigError(f"{source}: [program]: is required (with at least name, currency and timezone)")

    p = _Table(source, "[program]", data["program"])
    name = p.string("name", required=True)
    slug = p.string("slug", _slugify(name))
    if not _SLUG.match(slug):
        p.fail("slug", f'must be lowercase letters, digits and dashes (got "{slug}")')
    currency = p.string("currency", required=True)
    if currency not in list_currencies():
        p.fail("currency", f'must be an ISO 4217 code like USD or EUR (got "{currency}")')
    zone = p.string("timezone", required=True)
    if zone not in available_timezones():
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            p.fail("timezone", f'must be a time zone name like America/New_York (got "{zone}")')
    languages = p._take("languages", ["en"], False)
    if not isinstance(languages, list) or not languages or not all(isinstance(x, str) for x in languages):
        p.fail("languages", f'must be a non-empty list like ["en", "es"], got {_kind(languages)}')
    for lang in languages:
        if lang not in SUPPORTED_LANGUAGES:
            p.fail("languages", f'"{lang}" is not a shipped language (shipped: {", ".join(SUPPORTED_LANGUAGES)})')
    if len(set(languages)) != len(languages):
        p.fail("languages", "lists a language twice")
    quiet = _quiet_hours(p, p.string("quiet_hours"))
    p.finish()

    e = _Table(source, "[earning]", data.get("earning", {}))
    earning = Earning(
        points_per_unit=e.decimal("points_per_unit", "1"),
        rounding=e.choice("rounding", ("down", "nearest", "up"), "down"),
        per_visit=e.integer("per_visit", 0),
        pending_days=e.integer("pending_days", 0),
        join_bonus=e.integer("join_bonus", 0),
        birthday_bonus=e.integer("birthday_bonus", 0),
        survey_bonus=e.integer("survey_bonus", 0),
    )
    e.finish()

    x = _Table(source, "[expiry]", data.get("expiry", {}))
    expiry = Expiry(x.integer("after_days", 0), x.integer("remind_days_before", 14))
    x.finish()

    w = _Table(source, "[tier_rules]", data.get("tier_rules", {}))
    tier_rules = TierRules(w.integer("window_days", 365, minimum=1))
    w.finish()

    tiers = _tiers(source, data.get("tiers"))
    rewards = _rewards(source, data.get("rewards", []), tiers, currency)

    r = _Table(source, "[referrals]", data.get("referrals", {}))
    referrals = Referrals(
        referrer_points=r.integer("referrer_points", 0),
        referee_points=r.integer("referee_points", 0),
        qualify_on=r.choice("qualify_on", ("first_purchase", "join"), "first_purchase"),
        min_purchase=r.decimal("min_purchase", "0"),
        max_per_month=r.integer("max_per_month", 10),
    )
    r.finish()

    m = _Table(source, "[promotions]", data.get("promotions", {}))
    promotions = Promotions(m.integer("max_per_member_per_week", 2))
    m.finish()

    return ProgramConfig(
        slug, name, currency, zone, tuple(languages), quiet, earning, expiry, tier_rules, tiers, rewards,
        referrals, promotions,
    )


def _slugify(name: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", "-", (name or "").lower()).strip("-")[:64] or "program"


def _quiet_hours(table: _Table, text: str | None) -> tuple[time, time] | None:
    if text is None:
        return None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", text)
    try:
        if not match:
            raise ValueError
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = time(h1, m1), time(h2, m2)
    except ValueError:
        table.fail("quiet_hours", f'must look like "21:00-09:00" (got "{text}")')
    if start == end:
        table.fail("quiet_hours", "start and end are the same time")
    return start, end


def _array(source: str, name: str, data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise ConfigError(f"{source}: [[{name}]]: must be an array of tables ([[{name}]] blocks), got {_kind(data)}")
    return data


def _tiers(source: str, data: Any) -> tuple[TierRule, ...]:
    if data is None:
        return (TierRule("Member", 0, Decimal("1.0")),)
    tiers: list[TierRule] = []
    for number, item in enumerate(_array(source, "tiers", data), 1):
        label = f'"{item.get("name")}"' if isinstance(item, dict) and isinstance(item.get("name"), str) else ""
        t = _Table(source, f"[[tiers]] #{number}{' (' + label + ')' if label else ''}", item)
        rule = TierRule(t.string("name", required=True), t.integer("threshold", required=True),
                        t.decimal("multiplier", "1.0", positive=True))
        t.finish()
        if any(existing.name == rule.name for existing in tiers):
            t.fail("name", f'"{rule.name}" is used by another tier')
        if any(existing.threshold == rule.threshold for existing in tiers):
            t.fail("threshold", f"{rule.threshold} is used by another tier")
        tiers.append(rule)
    if not tiers or not any(t.threshold == 0 for t in tiers):
        raise ConfigError(f"{source}: [[tiers]]: one tier must have threshold = 0 (where every member starts)")
    return tuple(sorted(tiers, key=lambda t: t.threshold))


def _rewards(source: str, data: Any, tiers: tuple[TierRule, ...], currency: str) -> tuple[RewardRule, ...]:
    rewards: list[RewardRule] = []
    for number, item in enumerate(_array(source, "rewards", data), 1):
        label = f'id "{item.get("id")}"' if isinstance(item, dict) and isinstance(item.get("id"), str) else ""
        t = _Table(source, f"[[rewards]] #{number}{' (' + label + ')' if label else ''}", item)
        reward_id = t.string("id", required=True)
        if not _REWARD_ID.match(reward_id):
            t.fail("id", f'must be lowercase letters, digits, "-" or "_" (got "{reward_id}")')
        if any(r.id == reward_id for r in rewards):
            t.fail("id", f'"{reward_id}" is used by another reward')
        name = t.string("name", required=True)
        kind = t.choice("kind", REWARD_KINDS, required=True)
        cost = t.integer("cost", required=True, minimum=1)
        value = _reward_value(t, kind, t._take("value", "0", False), currency)
        min_tier = t.string("min_tier")
        if min_tier is not None and not any(tier.name == min_tier for tier in tiers):
            t.fail("min_tier", f'"{min_tier}" is not a tier (tiers: {", ".join(x.name for x in tiers)})')
        stock = t.integer("stock")
        limit = t.integer("per_member_limit", minimum=1)
        valid_from, valid_until = t.day("valid_from"), t.day("valid_until")
        if valid_from and valid_until and valid_from > valid_until:
            t.fail("valid_until", f"is before valid_from ({valid_until} < {valid_from})")
        days = t.integer("code_valid_days", 30, minimum=1)
        description = t.string("description")
        t.finish()
        rewards.append(RewardRule(reward_id, name, kind, cost, value, min_tier, stock, limit, valid_from, valid_until,
                                  days, description))
    return tuple(rewards)


def _reward_value(t: _Table, kind: str, value: Any, currency: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        t.fail("value", f"must be a string like \"5.00\", got {_kind(value)}")
    text = str(value).strip()
    if kind in ("free_item", "custom"):
        return text
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = Decimal("NaN")
    if kind == "fixed_discount":
        places = get_currency_precision(currency)
        if not number.is_finite() or number <= 0 or -number.as_tuple().exponent > places:  # type: ignore[operator]
            t.fail("value", f'must be an amount off in {currency} with at most {places} decimals, like "5.00" (got "{text}")')
    elif not number.is_finite() or not 0 < number <= 100:
        t.fail("value", f'must be a percentage above 0 and at most 100, like "10" (got "{text}")')
    return text


# --- JSON round trip -----------------------------------------------------------------


def to_settings(config: ProgramConfig) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, (Decimal, date, time)):
            return str(value) if isinstance(value, Decimal) else value.isoformat()
        return value

    return plain(asdict(config))  # type: ignore[no-any-return]


def from_settings(settings: dict[str, Any]) -> ProgramConfig:
    def build(cls: type, data: dict[str, Any]) -> Any:
        values = {}
        for f in fields(cls):
            value = data.get(f.name)
            kind = str(f.type)
            if value is None:
                values[f.name] = value if f.name in data else f.default  # type: ignore[assignment]
            elif kind.startswith("Decimal"):
                values[f.name] = Decimal(value)
            elif kind.startswith("date"):
                values[f.name] = date.fromisoformat(value)
            else:
                values[f.name] = value
        return cls(**values)

    quiet = settings.get("quiet_hours")
    return ProgramConfig(
        slug=settings["slug"],
        name=settings["name"],
        currency=settings["currency"],
        timezone=settings["timezone"],
        languages=tuple(settings["languages"]),
        quiet_hours=(time.fromisoformat(quiet[0]), time.fromisoformat(quiet[1])) if quiet else None,
        earning=build(Earning, settings["earning"]),
        expiry=build(Expiry, settings["expiry"]),
        tier_rules=build(TierRules, settings["tier_rules"]),
        tiers=tuple(build(TierRule, t) for t in settings["tiers"]),
        rewards=tuple(build(RewardRule, r) for r in settings["rewards"]),
        referrals=build(Referrals, settings["referrals"]),
        promotions=build(Promotions, settings["promotions"]),
    )
