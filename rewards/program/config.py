"""The program file: one TOML file, validated with messages that name the
file, the key and the reason, e.g.
``program.toml: [earning] rounding: must be one of down, nearest, up (got "sideways")``.

The rules come back as frozen dataclasses; ``to_settings``/``from_settings`` turn them into
plain JSON for the programs table and back. Pure: no database, no clock, no environment;
must not import Flask, Telegram, Twilio, APScheduler, ``bot`` or ``channels``.

Every key, with its default and range, is in docs/program-file.md: keep the two in step.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import MISSING as NO_DEFAULT
from dataclasses import asdict, dataclass, fields
from datetime import date, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from babel.numbers import get_currency_precision

from rewards.errors import ConfigError
from rewards.inputs import ascii_decimal
from rewards.phones import country_of_zone, is_country
from rewards.program.config_automations import Automations, parse_automations
from rewards.program.config_fields import MISSING, Table, describe, suggestion
from rewards.program.config_privacy import Privacy, parse_privacy
from rewards.program.config_staff import Staff, parse_staff, staff_from_settings

SUPPORTED_LANGUAGES = ("en", "es")
DEMO_PROGRAM_PATH = Path(__file__).with_name("demo_program.toml")
ROUNDINGS = ("down", "nearest", "up")
REWARD_KINDS = ("free_item", "fixed_discount", "percent_discount", "custom")
QUALIFY_ON = ("first_purchase", "join")
# The most points one thing may be worth: a bonus, a reward's cost, a tier's threshold here;
# one ledger entry a person asks for (rewards/ledger.py). Far beyond any real program, and
# small enough that nothing it adds up to overflows the database's 64-bit balances.
MAX_POINTS = 1_000_000_000


@dataclass(frozen=True)
class TierRule:
    name: str
    threshold: int  # points earned within TierRules.window_days to reach the tier
    multiplier: Decimal  # applied to purchase points


@dataclass(frozen=True)
class RewardRule:
    id: str  # stable across renames; the database row is keyed on it
    name: str
    kind: str  # one of REWARD_KINDS
    cost: int
    value: str  # amount off ("5.00") or percent ("10") by kind, free text otherwise
    min_tier: str | None
    stock: int | None  # None: unlimited
    per_member_limit: int | None  # None: unlimited
    valid_from: date | None
    valid_until: date | None  # inclusive
    code_valid_days: int
    description: str | None = None


@dataclass(frozen=True)
class Earning:
    points_per_unit: Decimal
    rounding: str  # one of ROUNDINGS
    per_visit: int
    pending_days: int
    join_bonus: int
    birthday_bonus: int
    survey_bonus: int = 0


@dataclass(frozen=True)
class Expiry:
    after_days: int  # 0: points never expire
    remind_days_before: int


@dataclass(frozen=True)
class TierRules:
    window_days: int


@dataclass(frozen=True)
class Referrals:
    """``max_per_month`` caps the referrals credited to one referrer in a calendar month;
    0 means no referral counts (the programme is effectively off), not "no cap"."""

    referrer_points: int
    referee_points: int
    qualify_on: str  # one of QUALIFY_ON
    min_purchase: Decimal
    max_per_month: int


@dataclass(frozen=True)
class Promotions:
    max_per_member_per_week: int  # campaign messages a member may get in any 7 days; 0: none
    conversion_days: int = 7  # a purchase or redemption this soon after a campaign counts as converted


@dataclass(frozen=True)
class WhatsApp:
    """``notice_template_sid``: an approved Twilio Content template ("HX" + 32 hex) whose
    variable {{1}} carries the text, for messages outside WhatsApp's 24-hour window."""

    notice_template_sid: str | None = None


@dataclass(frozen=True)
class ProgramConfig:
    slug: str
    name: str
    currency: str
    timezone: str
    languages: tuple[str, ...]
    quiet_hours: tuple[time, time] | None  # (start, end) in program time; may wrap midnight
    earning: Earning
    expiry: Expiry
    tier_rules: TierRules
    tiers: tuple[TierRule, ...]  # sorted by threshold; the first has threshold 0
    rewards: tuple[RewardRule, ...]
    referrals: Referrals
    promotions: Promotions
    whatsapp: WhatsApp = WhatsApp()
    automations: Automations = Automations()
    staff: Staff = Staff()  # who may use staff commands in chat
    privacy: Privacy = Privacy()  # how long message records keep personal data
    country: str | None = None  # [program] country, as given (ISO 3166 alpha-2)
    # [program] point_value: what one point is worth in ``currency`` (the dashboard shows
    # the outstanding points' value with it); None: not said.
    point_value: Decimal | None = None

    @property
    def default_language(self) -> str:
        return self.languages[0]

    @property
    def phone_region(self) -> str | None:
        """Where a phone number typed without +country is read: ``country``, or else the
        country of the program's time zone (None for a zone of no country, like UTC)."""
        return self.country or country_of_zone(self.timezone)

    def tier_by_name(self, name: str) -> TierRule | None:
        return next((t for t in self.tiers if t.name == name), None)


# --- the whole file -------------------------------------------------------------------

_TABLES = ("program", "earning", "expiry", "tier_rules", "referrals", "promotions", "whatsapp", "automations",
           "staff", "privacy")
_ARRAYS = ("tiers", "rewards")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_REWARD_ID = re.compile(r"^[a-z0-9][a-z0-9-_]*$")
_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")


def load_program_file(path: str | os.PathLike[str]) -> ProgramConfig:
    """Read and validate a program file; errors start with the file's name."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such program file (check LOYALTY_PROGRAM_FILE or the path given)") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the program file: {error.strerror or error}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path.name}: is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        # tomllib's message ends with "(at line L, column C)", which is what a merchant needs
        raise ConfigError(f"{path.name}: is not valid TOML: {error}") from None
    return parse_program(data, source=path.name)


def parse_program(data: dict[str, Any], source: str = "program file") -> ProgramConfig:
    """Validate an already-parsed TOML document; ``source`` names it in error messages."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: must be a TOML document (a table), got {describe(data)}")
    for key, value in data.items():
        if key not in _TABLES + _ARRAYS:
            shown = f"[{key}]" if isinstance(value, dict) else f"[[{key}]]" if isinstance(value, list) else key
            options = [f"[{t}]" for t in _TABLES] + [f"[[{a}]]" for a in _ARRAYS]
            raise ConfigError(f"{source}: {shown}: is not a known table" + suggestion(shown, options))
    if "program" not in data:
        raise ConfigError(f"{source}: [program]: is required (with at least name, currency and timezone)")

    p = Table(source, "[program]", data["program"])
    name = p.string("name", required=True)
    slug = p.string("slug", _slugify(name))
    if not _SLUG.match(slug):
        p.fail("slug", f'must be lowercase letters, digits and dashes, at most 64 (got "{slug}")')
    currency = p.currency("currency")
    zone = p.timezone("timezone")
    country = _country(p)
    languages = _languages(p)
    quiet = p.hours("quiet_hours")
    point_value = p.decimal("point_value", "0", positive=True) if "point_value" in p.data else None
    p.finish()

    e = Table(source, "[earning]", data.get("earning", {}))
    earning = Earning(
        points_per_unit=e.decimal("points_per_unit", "1"),
        rounding=e.choice("rounding", ROUNDINGS, "down"),
        per_visit=e.integer("per_visit", 0, maximum=MAX_POINTS),
        pending_days=e.integer("pending_days", 0),
        join_bonus=e.integer("join_bonus", 0, maximum=MAX_POINTS),
        birthday_bonus=e.integer("birthday_bonus", 0, maximum=MAX_POINTS),
        survey_bonus=e.integer("survey_bonus", 0, maximum=MAX_POINTS),
    )
    e.finish()

    x = Table(source, "[expiry]", data.get("expiry", {}))
    expiry = Expiry(x.integer("after_days", 0), x.integer("remind_days_before", 14))
    x.finish()

    w = Table(source, "[tier_rules]", data.get("tier_rules", {}))
    tier_rules = TierRules(w.integer("window_days", 365, minimum=1))
    w.finish()

    tiers = _tiers(source, data.get("tiers", MISSING))
    rewards = _rewards(source, data.get("rewards", []), tiers, currency)

    r = Table(source, "[referrals]", data.get("referrals", {}))
    referrals = Referrals(
        referrer_points=r.integer("referrer_points", 0, maximum=MAX_POINTS),
        referee_points=r.integer("referee_points", 0, maximum=MAX_POINTS),
        qualify_on=r.choice("qualify_on", QUALIFY_ON, "first_purchase"),
        min_purchase=r.decimal("min_purchase", "0"),
        max_per_month=r.integer("max_per_month", 10),
    )
    r.finish()

    m = Table(source, "[promotions]", data.get("promotions", {}))
    promotions = Promotions(m.integer("max_per_member_per_week", 2), m.integer("conversion_days", 7, minimum=1))
    m.finish()

    wa = Table(source, "[whatsapp]", data.get("whatsapp", {}))
    template = wa.string("notice_template_sid")
    if template is not None and not _CONTENT_SID.match(template):
        wa.fail("notice_template_sid", f'must be a Twilio Content SID, "HX" and 32 hex digits (got "{template}")')
    wa.finish()

    return ProgramConfig(slug, name, currency, zone, languages, quiet, earning, expiry, tier_rules, tiers, rewards,
                         referrals, promotions, WhatsApp(template), parse_automations(source, data.get("automations", {})),
                         parse_staff(source, data.get("staff", {})), parse_privacy(source, data.get("privacy", {})),
                         country, point_value)


# --- [program] ------------------------------------------------------------------------


def _slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64].strip("-") or "program"


def _country(p: Table) -> str | None:
    country = p.string("country")
    if country is None:
        return None
    if not is_country(country.strip().upper()):
        p.fail("country", f'must be a country code like "US" or "ES" (ISO 3166, two letters), got "{country}"')
    return str(country.strip().upper())


def _languages(p: Table) -> tuple[str, ...]:
    languages = p.take("languages")
    if languages is MISSING:
        return (SUPPORTED_LANGUAGES[0],)
    if not isinstance(languages, list) or not languages or not all(isinstance(x, str) for x in languages):
        p.fail("languages", f'must be a non-empty list like ["en", "es"], got {describe(languages)}')
    for lang in languages:
        if lang not in SUPPORTED_LANGUAGES:
            p.fail("languages", f'"{lang}" is not a shipped language (shipped: {", ".join(SUPPORTED_LANGUAGES)})')
    twice = next((lang for i, lang in enumerate(languages) if lang in languages[:i]), None)
    if twice:
        p.fail("languages", f'lists "{twice}" twice')
    return tuple(languages)


# --- [[tiers]] and [[rewards]] --------------------------------------------------------


def _items(source: str, name: str, data: Any, label_key: str) -> list[Table]:
    """One ``Table`` per ``[[name]]`` block, labelled ``[[name]] #2 (key "value")``."""
    if not isinstance(data, list):
        raise ConfigError(f"{source}: [[{name}]]: must be an array of tables ([[{name}]] blocks), got {describe(data)}")
    tables = []
    for number, item in enumerate(data, 1):
        label = item.get(label_key) if isinstance(item, dict) else None
        where = f"[[{name}]] #{number}" + (f' ({label_key} "{label}")' if isinstance(label, str) else "")
        tables.append(Table(source, where, item))
    return tables


def _tiers(source: str, data: Any) -> tuple[TierRule, ...]:
    if data is MISSING:
        return (TierRule("Member", 0, Decimal("1.0")),)
    tiers: list[TierRule] = []
    for t in _items(source, "tiers", data, "name"):
        rule = TierRule(t.string("name", required=True), t.integer("threshold", required=True, maximum=MAX_POINTS),
                        t.decimal("multiplier", "1.0", positive=True))
        t.finish()
        if any(other.name == rule.name for other in tiers):
            t.fail("name", f'"{rule.name}" is used by another tier')
        if any(other.threshold == rule.threshold for other in tiers):
            t.fail("threshold", f"{rule.threshold} is used by another tier")
        tiers.append(rule)
    if not any(t.threshold == 0 for t in tiers):
        raise ConfigError(f"{source}: [[tiers]]: one tier must have threshold = 0 (where every member starts)")
    return tuple(sorted(tiers, key=lambda t: t.threshold))


def _rewards(source: str, data: Any, tiers: tuple[TierRule, ...], currency: str) -> tuple[RewardRule, ...]:
    rewards: list[RewardRule] = []
    for t in _items(source, "rewards", data, "id"):
        reward_id = t.string("id", required=True)
        if not _REWARD_ID.match(reward_id):
            t.fail("id", f'must be lowercase letters, digits, "-" or "_" (got "{reward_id}")')
        if any(r.id == reward_id for r in rewards):
            t.fail("id", f'"{reward_id}" is used by another reward')
        name = t.string("name", required=True)
        kind = t.choice("kind", REWARD_KINDS, required=True)
        cost = t.integer("cost", required=True, minimum=1, maximum=MAX_POINTS)
        value = _reward_value(t, kind, currency)
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


def _reward_value(t: Table, kind: str, currency: str) -> str:
    value = t.take("value")
    if value is MISSING:
        if kind in ("free_item", "custom"):
            return "0"
        t.fail("value", f'is required for kind {kind} (like "5.00" off or "10" percent)')
    # a bare number is accepted too (value = 10): merchants write percentages that way
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        t.fail("value", f'must be a string like "5.00", got {describe(value)}')
    text = str(value).strip()
    if kind in ("free_item", "custom"):
        return text
    try:
        number = ascii_decimal(text)
    except InvalidOperation:
        number = Decimal("NaN")
    if kind == "fixed_discount":
        places = get_currency_precision(currency)
        exponent = number.as_tuple().exponent
        if not number.is_finite() or number <= 0 or (isinstance(exponent, int) and -exponent > places):
            t.fail("value", f'must be an amount off in {currency} with at most {places} decimals, like "5.00" (got "{text}")')
    elif not number.is_finite() or not 0 < number <= 100:
        t.fail("value", f'must be a percentage above 0 and at most 100, like "10" (got "{text}")')
    return text


# --- JSON round trip -----------------------------------------------------------------


def to_settings(config: ProgramConfig) -> dict[str, Any]:
    """Plain JSON: Decimal as its string, dates and times in ISO format, tuples as lists."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, (date, time)):
            return value.isoformat()
        return value

    return plain(asdict(config))  # type: ignore[no-any-return]


# annotation text (this module uses postponed annotations) -> how to read its JSON back
_FROM_JSON: dict[str, Any] = {"Decimal": Decimal, "date | None": date.fromisoformat}


def _build(cls: type, data: dict[str, Any]) -> Any:
    values = {}
    for f in fields(cls):
        if f.name not in data:
            if f.default is NO_DEFAULT:
                raise KeyError(f"{cls.__name__}.{f.name}")
            values[f.name] = f.default  # a key added since these settings were stored
            continue
        value, convert = data[f.name], _FROM_JSON.get(str(f.type))
        values[f.name] = convert(value) if convert and value is not None else value
    return cls(**values)


def from_settings(settings: dict[str, Any]) -> ProgramConfig:
    """The inverse of ``to_settings``: ``from_settings(to_settings(c)) == c``."""
    try:
        quiet = settings.get("quiet_hours")
        return ProgramConfig(
            slug=settings["slug"],
            name=settings["name"],
            currency=settings["currency"],
            timezone=settings["timezone"],
            languages=tuple(settings["languages"]),
            quiet_hours=(time.fromisoformat(quiet[0]), time.fromisoformat(quiet[1])) if quiet else None,
            earning=_build(Earning, settings["earning"]),
            expiry=_build(Expiry, settings["expiry"]),
            tier_rules=_build(TierRules, settings["tier_rules"]),
            tiers=tuple(_build(TierRule, t) for t in settings["tiers"]),
            rewards=tuple(_build(RewardRule, r) for r in settings["rewards"]),
            referrals=_build(Referrals, settings["referrals"]),
            promotions=_build(Promotions, settings["promotions"]),
            # absent in settings stored before the key existed
            whatsapp=_build(WhatsApp, settings.get("whatsapp") or {}),
            automations=_build(Automations, settings.get("automations") or {}),
            staff=staff_from_settings(settings.get("staff")),
            privacy=_build(Privacy, settings.get("privacy") or {}),
            country=settings.get("country"),
            point_value=Decimal(settings["point_value"]) if settings.get("point_value") is not None else None,
        )
    except (KeyError, TypeError, ValueError, InvalidOperation) as error:
        raise ConfigError(f"program settings: stored settings are incomplete or damaged ({error!r})") from None
