"""Helpers for the domain tests: members who join through the real sign-up, program files
changed with ``dataclasses.replace`` and loaded again, and a clock to move.

Everything here builds on tests/conftest.py (``engine``, ``sessions``, ``program``,
``session``, ``demo_config``); nothing here commits on its own.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import support
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rewards import catalog, members
from rewards.models import LedgerEntry, Member, Program, Reward
from rewards.program.config import ProgramConfig
from rewards.program.programs import sync_program

# The shared fixed clock (tests/support.py); the program fixture is loaded at that instant.
_T0: datetime = support.T0


@pytest.fixture
def T0() -> datetime:  # noqa: N802 - the name the shared fixtures use for the fixed clock
    return _T0


@pytest.fixture
def make_reward(demo_config: ProgramConfig) -> Callable[..., Any]:
    """A reward rule as the program file would give it: no tier, stock, limit or dates
    unless asked."""

    def _reward(id: str, **fields: Any) -> Any:  # noqa: A002 - the program file's key
        base = dict(
            id=id, name=fields.pop("name", id.replace("-", " ").title()), kind="free_item", cost=500,
            value="0", min_tier=None, stock=None, per_member_limit=None, valid_from=None,
            valid_until=None, code_valid_days=30,
        )
        base.update(fields)
        return replace(demo_config.rewards[0], **base)

    return _reward


@pytest.fixture
def make_tier(demo_config: ProgramConfig) -> Callable[..., Any]:
    def _tier(name: str, threshold: int, multiplier: str = "1.0") -> Any:
        return replace(demo_config.tiers[0], name=name, threshold=threshold, multiplier=Decimal(multiplier))

    return _tier


@pytest.fixture
def configure(session: Session, demo_config: ProgramConfig, program: Program) -> Callable[..., ProgramConfig]:
    """Load a changed program file, as an operator would, and return its rules.

    ``configure(earning={"rounding": "up"}, rewards=[...], currency="JPY")``: dict values
    replace fields of that section, anything else replaces the field itself.
    """

    def _configure(**changes: Any) -> ProgramConfig:
        fields: dict[str, Any] = {}
        for name, value in changes.items():
            current = getattr(demo_config, name)
            if isinstance(value, dict):
                fields[name] = replace(current, **value)
            elif isinstance(value, list):
                fields[name] = type(current)(value)
            else:
                fields[name] = value
        config = replace(demo_config, **fields)
        sync_program(session, config, _T0)
        session.flush()
        return config

    return _configure


@pytest.fixture
def join(session: Session, program: Program, demo_config: ProgramConfig) -> Callable[..., Member]:
    """A member who signed up on a channel (the terminal unless told), with a fresh phone."""
    numbers = itertools.count(1)

    def _join(
        phone: str | None = None,
        *,
        config: ProgramConfig | None = None,
        now: datetime = _T0,
        channel: str = "terminal",
        address: str | None = None,
        name: str | None = None,
        language: str = "en",
    ) -> Member:
        phone = phone or f"+1555010{next(numbers):04d}"
        identity = members.get_identity(session, program.id, channel, address or phone, now)
        return members.join(
            session, session.get(Program, program.id), config or demo_config, identity, now,
            phone=phone, language=language, name=name,
        ).member

    return _join


@pytest.fixture
def reward_row(session: Session, program: Program) -> Callable[[str], Reward]:
    def _row(slug: str) -> Reward:
        reward = catalog.find_reward(session, program.id, slug)
        assert reward is not None, f"reward {slug} is not in the catalog"
        return reward

    return _row


@pytest.fixture
def entries(session: Session) -> Callable[..., list[tuple[str, int]]]:
    """A member's ledger as (kind, amount) pairs in posting order."""

    def _entries(member: Member) -> list[tuple[str, int]]:
        rows = session.execute(
            select(LedgerEntry.kind, LedgerEntry.amount).where(LedgerEntry.member_id == member.id).order_by(LedgerEntry.id)
        )
        return [(kind, amount) for kind, amount in rows]

    return _entries


@pytest.fixture
def ledger_sum(session: Session) -> Callable[[Member], int]:
    def _sum(member: Member) -> int:
        return int(session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(LedgerEntry.member_id == member.id)
        ))

    return _sum
