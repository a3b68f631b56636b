"""Audiences: who a campaign is for, as filters combined with AND.

A filter set is a small JSON object, stored on the campaign as given after checking:

    {"tier": ["Gold"], "channel": ["telegram"], "inactive_days": 30}

or, typed on the command line, ``tier=Gold,channel=telegram,inactive_days=30`` (several
values with ``|``: ``tier=Gold|Silver``). ``{}`` or ``all`` is every member. Filters:

    all              every member (alone)
    tier             tier names (the member's current tier)
    channel          telegram | whatsapp | sms | web | terminal: members with an identity
                     there; the message then goes on that channel only
    language         language codes of the program
    inactive_days    no purchase, redemption or chat for at least this many days (1-3650)
    birthday_month   1-12 or jan..dec
    min_balance      a balance of at least this many points (0-1,000,000,000)
    joined_after     joined on or after this date (program's zone; years 1900-2199)
    joined_before    joined before this date (program's zone; years 1900-2199)
    has_redeemed     true: used a reward code at the till at least once; false: never

Every number is bounded: a filter the database or date arithmetic cannot take would fail
the campaign's every run (and its preview), so it is refused when given. ``member_filter``
turns a set into one SQL condition on ``members``, so an audience is counted and streamed
by the database, never loaded whole into Python; it checks the bounds again, so a set
stored before they existed fails with its filter named.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, extract, not_, select, true

from rewards.errors import InvalidInput
from rewards.inputs import ascii_digits
from rewards.localtime import FIRST_DAY, LAST_DAY, parse_local
from rewards.models import Code, Identity, Member, Tier
from rewards.program.config import ProgramConfig
from rewards.program.config_fields import suggestion

CHANNELS = ("telegram", "whatsapp", "sms", "web", "terminal")
FILTERS = ("all", "tier", "channel", "language", "inactive_days", "birthday_month", "min_balance",
           "joined_after", "joined_before", "has_redeemed")
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")
MAX_INACTIVE_DAYS = 3650  # ten years: beyond, "now minus the days" leaves the calendar
MAX_BALANCE = 1_000_000_000  # within a 32-bit INTEGER, which the database compares it to

Audience = dict[str, Any]


def _fail(name: str, reason: str) -> InvalidInput:
    return InvalidInput(f"audience {name}: {reason}", reason="invalid", field=name)


def parse_text(text: str) -> Audience:
    """``tier=Gold|Silver,inactive_days=30`` as the raw filter set (checked by ``check``)."""
    raw: Audience = {}
    stripped = text.strip()
    if stripped.lower() in ("", "all", "everyone"):
        return raw
    for part in stripped.split(","):
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        if not sep or not name or not value.strip():
            raise InvalidInput(f'audience: "{part.strip()}" should look like name=value '
                               f'(e.g. "tier=Gold,inactive_days=30")', reason="invalid", field="audience")
        if name in raw:
            raise _fail(name, "is given twice")
        values = [v.strip() for v in value.split("|")]
        raw[name] = values if len(values) > 1 else values[0]
    return raw


def _names(name: str, value: Any, allowed: tuple[str, ...] | list[str], case: bool = True) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise _fail(name, f"must be a name or a list of names (one of {', '.join(allowed)})")
    out: list[str] = []
    by_lower = {a.lower(): a for a in allowed}
    for v in values:
        found = by_lower.get(v.strip().lower())
        if found is None:
            raise _fail(name, f'"{v}" is not one of {", ".join(allowed)}' + suggestion(v.strip(), allowed))
        if found not in out:
            out.append(found)
    return out


def _whole(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, str) and ascii_digits(value.strip().removeprefix("-")) and len(value.strip()) <= 40:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(name, f"must be a whole number (digits 0-9), got {value!r}"[:200])
    if not low <= value <= high:
        raise _fail(name, f"must be {low:,} to {high:,}, got {value:,}"[:200])
    return value


def _month(value: Any) -> int:
    if isinstance(value, str) and value.strip().lower()[:3] in _MONTHS:
        return _MONTHS.index(value.strip().lower()[:3]) + 1
    return _whole("birthday_month", value, 1, 12)


def _day(name: str, value: Any) -> str:
    try:
        day = date.fromisoformat(str(value).strip())
    except ValueError:
        raise _fail(name, f'must be a date like 2026-01-31, got "{value}"'[:200]) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise _fail(name, f"must be from {FIRST_DAY} to {LAST_DAY}, got {day}")
    return day.isoformat()


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise _fail(name, f"must be true or false, got {value!r}")


_BOUNDED: dict[str, Callable[[Any], Any]] = {
    "inactive_days": lambda v: _whole("inactive_days", v, 1, MAX_INACTIVE_DAYS),
    "birthday_month": _month,
    "min_balance": lambda v: _whole("min_balance", v, 0, MAX_BALANCE),
    "joined_after": lambda v: _day("joined_after", v),
    "joined_before": lambda v: _day("joined_before", v),
}


def check(raw: Any, config: ProgramConfig) -> Audience:
    """The filter set in its stored form, or ``InvalidInput`` naming the wrong filter."""
    if isinstance(raw, str):
        raw = parse_text(raw)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidInput('audience: must be an object of filters like {"tier": "Gold"}', reason="invalid",
                           field="audience")
    out: Audience = {}
    for name, value in raw.items():
        if name not in FILTERS:
            raise _fail(str(name), "is not a filter (filters: " + ", ".join(FILTERS) + ")"
                        + suggestion(str(name), FILTERS))
        if name == "all":
            if not _flag(name, value) and len(raw) == 1:
                raise _fail(name, "all=false matches nobody; give other filters instead")
            continue
        if name == "tier":
            out[name] = _names(name, value, [t.name for t in config.tiers])
        elif name == "channel":
            out[name] = _names(name, value, CHANNELS)
        elif name == "language":
            out[name] = _names(name, value, config.languages)
        elif name in _BOUNDED:
            out[name] = _BOUNDED[name](value)
        elif name == "has_redeemed":
            out[name] = _flag(name, value)
    if raw.get("all") is not None and _flag("all", raw["all"]) and out:
        raise _fail("all", "cannot be combined with other filters")
    if "joined_after" in out and "joined_before" in out and out["joined_after"] >= out["joined_before"]:
        raise _fail("joined_before", f"{out['joined_before']} is not after joined_after {out['joined_after']}")
    return out


def usable(audience: Any) -> Audience:
    """A stored set as the query needs it, or ``InvalidInput`` naming the filter that would
    break it (a number out of bounds, a wrong shape): a set stored before the bounds existed,
    or written to the database by hand, fails its campaign with a reason, not a crash."""
    if not isinstance(audience, dict):
        raise InvalidInput("audience: must be an object of filters", reason="invalid", field="audience")
    out = dict(audience)
    for name, value in audience.items():
        if name in _BOUNDED:
            out[name] = _BOUNDED[name](value)
        elif name in ("tier", "channel", "language") and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise _fail(str(name), "must be a list of names")
        elif name == "has_redeemed" and not isinstance(value, bool):
            raise _fail(name, "must be true or false")
    return out


def channels_of(audience: Audience, enabled: list[str] | tuple[str, ...] | set[str]) -> list[str]:
    """The channels a campaign may use: the ones that are on, narrowed by a channel filter."""
    wanted = usable(audience).get("channel")
    return [c for c in enabled if wanted is None or c in wanted]


def member_filter(audience: Audience, program_id: int, now: datetime, zone: str) -> ColumnElement[bool]:
    """One SQL condition on ``members`` for a checked audience (live members of the program).
    ``InvalidInput`` names a number or date out of its bounds (a set stored unchecked)."""
    audience = usable(audience)
    conditions: list[ColumnElement[bool]] = [Member.program_id == program_id, Member.deleted_at.is_(None)]
    if "tier" in audience:
        tier_ids = select(Tier.id).where(Tier.program_id == program_id, Tier.name.in_(audience["tier"]))
        conditions.append(Member.tier_id.in_(tier_ids.scalar_subquery()))
    if "channel" in audience:
        conditions.append(exists().where(Identity.member_id == Member.id, Identity.channel.in_(audience["channel"])))
    if "language" in audience:
        conditions.append(Member.language.in_(audience["language"]))
    if "inactive_days" in audience:
        conditions.append(Member.last_activity_at <= now - timedelta(days=audience["inactive_days"]))
    if "birthday_month" in audience:
        conditions.append(extract("month", Member.birthday) == audience["birthday_month"])
    if "min_balance" in audience:
        conditions.append(Member.balance >= audience["min_balance"])
    if "joined_after" in audience:
        conditions.append(Member.joined_at >= parse_local(audience["joined_after"], zone))
    if "joined_before" in audience:
        conditions.append(Member.joined_at < parse_local(audience["joined_before"], zone))
    if "has_redeemed" in audience:
        used = exists().where(Code.member_id == Member.id, Code.status == "redeemed")
        conditions.append(used if audience["has_redeemed"] else not_(used))
    return and_(true(), *conditions)


def describe(audience: Audience) -> str:
    """The textual form, for listings: ``tier=Gold,inactive_days=30`` or ``all``."""
    if not audience:
        return "all"
    parts = []
    for name, value in audience.items():
        shown = "|".join(value) if isinstance(value, list) else str(value).lower() if isinstance(value, bool) else value
        parts.append(f"{name}={shown}")
    return ",".join(parts)
