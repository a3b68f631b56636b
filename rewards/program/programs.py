"""Loading a program file into the database, and reading a program's rules back.

The file is the source of truth at start and on reload: tiers and rewards are matched by
name and id; one that leaves the file is retired, never deleted, because ledger entries
and codes point at it.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from rewards.errors import NotFound
from rewards.models import Program, Reward, Tier
from rewards.program.config import ProgramConfig, from_settings, to_settings

_config_cache: dict[tuple[int, str], ProgramConfig] = {}


def sync_program(session: Session, config: ProgramConfig, now: datetime) -> Program:
    """Create or update the program, its tiers and rewards from ``config``."""
    program = session.scalar(select(Program).where(Program.slug == config.slug))
    if program is None:
        program = Program(slug=config.slug)
        session.add(program)
    program.name = config.name
    program.currency = config.currency
    program.timezone = config.timezone
    program.settings = to_settings(config)
    program.loaded_at = now
    session.flush()  # a new program gets its id first: a new database reuses ids another one cached
    # A reload at the same instant (a fixed clock) must not be served the old rules.
    for key in [k for k in _config_cache if k[0] == program.id]:
        del _config_cache[key]

    tiers = {t.name: t for t in session.scalars(select(Tier).where(Tier.program_id == program.id))}
    for rule in config.tiers:
        tier = tiers.pop(rule.name, None) or Tier(program_id=program.id, name=rule.name)
        tier.threshold = rule.threshold
        tier.multiplier_permille = int(Decimal(rule.multiplier) * 1000)
        tier.retired = False
        session.add(tier)
    for gone in tiers.values():
        gone.retired = True

    rewards = {r.slug: r for r in session.scalars(select(Reward).where(Reward.program_id == program.id))}
    for position, rule in enumerate(config.rewards):
        reward = rewards.pop(rule.id, None) or Reward(program_id=program.id, slug=rule.id)
        reward.name = rule.name
        reward.kind = rule.kind
        reward.cost = rule.cost
        reward.value = rule.value
        reward.min_tier = rule.min_tier
        reward.stock = rule.stock
        reward.per_member_limit = rule.per_member_limit
        reward.valid_from = rule.valid_from
        reward.valid_until = rule.valid_until
        reward.code_valid_days = rule.code_valid_days
        reward.position = position
        reward.retired_at = None
        session.add(reward)
    for gone in rewards.values():
        if gone.retired_at is None:
            gone.retired_at = now
    session.flush()
    return program


def config_of(program: Program) -> ProgramConfig:
    """The program's rules, parsed once per load."""
    return _config(program.id, program.loaded_at, lambda: program.settings)


_SETTINGS = select(Program.__table__.c.settings).where(Program.__table__.c.id == bindparam("program_id"))


def config_for(session: Session, program_id: int, loaded_at: datetime) -> ProgramConfig:
    """``config_of`` for a program known by its id and load time (read without the ORM)."""
    return _config(program_id, loaded_at,
                   lambda: session.execute(_SETTINGS, {"program_id": program_id}).scalar_one())


def _config(program_id: int, loaded_at: datetime, settings: Callable[[], dict[str, Any]]) -> ProgramConfig:
    key = (program_id, loaded_at.isoformat())
    config = _config_cache.get(key)
    if config is None:
        config = from_settings(settings())
        _config_cache.clear() if len(_config_cache) > 64 else None
        _config_cache[key] = config
    return config


def get_program(session: Session, slug: str | None = None) -> Program:
    """The program named ``slug``, or the only one when there is just one."""
    query = select(Program).order_by(Program.id)
    if slug:
        program = session.scalar(query.where(Program.slug == slug))
        if program is None:
            raise NotFound(f'no program "{slug}" in the database; load it with `loyalty program load FILE`')
        return program
    programs = list(session.scalars(query.limit(2)))
    if not programs:
        raise NotFound("no program in the database yet: run `loyalty demo` or set LOYALTY_PROGRAM_FILE")
    if len(programs) > 1:
        raise NotFound("several programs in this database: choose one with --program SLUG")
    return programs[0]
