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
    inactive_days    no purchase, redemption or chat for at least this many days
    birthday_month   1-12 or jan..dec
    min_balance      a balance of at least this many points
    joined_after     joined on or after this date (program's zone)
    joined_before    joined before this date (program's zone)
    has_redeemed     true: used a reward code at the till at least once; false: never

``member_filter`` turns a checked set into one SQL condition on ``members``, so an audience
is counted and streamed by the database, never loaded whole into Python.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, extract, not_, select, true

from rewards.config import ProgramConfig
from rewards.config_fields import suggestion
from rewards.errors import InvalidInput
from rewards.localtime import parse_local
from rewards.models import Code, Identity, Member, Tier

CHANNELS = ("telegram", "whatsapp", "sms", "web", "terminal")
FILTERS = ("all", "tier", "channel", "language", "inactive_days", "birthday_month", "min_balance",
           "joined_after", "joined_before", "has_redeemed")
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")

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


def _whole(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(name, f"must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        raise _fail(name, f"must be {low} to {high}" if high is not None else f"must be at least {low}, got {value}")
    return value


def _month(value: Any) -> int:
    if isinstance(value, str) and value.strip().lower()[:3] in _MONTHS and not value.strip().isdigit():
        return _MONTHS.index(value.strip().lower()[:3]) + 1
    return _whole("birthday_month", value, 1, 12)


def _day(name: str, value: Any) -> str:
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise _fail(name, f'must be a date like 2026-01-31, got "{value}"') from None


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise _fail(name, f"must be true or false, got {value!r}")


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
        elif name == "inactive_days":
            out[name] = _whole(name, value, 1)
        elif name == "birthday_month":
            out[name] = _month(value)
        elif name == "min_balance":
            out[name] = _whole(name, value, 0)
        elif name in ("joined_after", "joined_before"):
            out[name] = _day(name, value)
        elif name == "has_redeemed":
            out[name] = _flag(name, value)
    if raw.get("all") is not None and _flag("all", raw["all"]) and out:
        raise _fail("all", "cannot be combined with other filters")
    if "joined_after" in out and "joined_before" in out and out["joined_after"] >= out["joined_before"]:
        raise _fail("joined_before", f"{out['joined_before']} is not after joined_after {out['joined_after']}")
    return out


def channels_of(audience: Audience, enabled: list[str] | tuple[str, ...] | set[str]) -> list[str]:
    """The channels a campaign may use: the ones that are on, narrowed by a channel filter."""
    wanted = audience.get("channel")
    return [c for c in enabled if wanted is None or c in wanted]


def member_filter(audience: Audience, program_id: int, now: datetime, zone: str) -> ColumnElement[bool]:
    """One SQL condition on ``members`` for a checked audience (live members of the program)."""
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
