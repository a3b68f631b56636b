"""Tiers: thresholds on qualifying points earned inside a rolling window.

Qualifying points are purchase and visit points (net of their reversals), counted by when
they were earned. The lookup reads one member's entries in the window through the
``(member_id, lot_at)`` index, so it costs the same however large the ledger grows.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import Session

from rewards.events import TierChanged
from rewards.ledger import lock_member
from rewards.models import LedgerEntry, Member, Tier
from rewards.storage.db import one_of

QUALIFYING_KINDS = ("purchase", "visit", "reversal")


class TierLike(Protocol):
    """A tier as ``progress_at`` reads it: the row, or the program file's rule."""

    @property
    def name(self) -> str: ...
    @property
    def threshold(self) -> int: ...


T = TypeVar("T", bound=TierLike)


@dataclass(frozen=True)
class TierProgress(Generic[T]):
    tier: T
    points: int  # qualifying points in the window
    next_tier: T | None
    points_to_next: int


_ACTIVE = select(Tier).where(Tier.program_id == bindparam("program_id"), Tier.retired.is_(False)).order_by(Tier.threshold)


def active_tiers(session: Session, program_id: int) -> list[Tier]:
    return list(session.scalars(_ACTIVE, {"program_id": program_id}))


def qualifies(window_start: Any):  # type: ignore[no-untyped-def]
    """The SQL condition for an entry that counts toward a tier in the window starting at
    ``window_start`` (an instant or a bind parameter)."""
    entry = LedgerEntry.__table__.c
    return and_(entry.lot_at > window_start, one_of(entry.kind, QUALIFYING_KINDS))


def qualifying_points(session: Session, member_id: int, now: datetime, window_days: int) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                LedgerEntry.member_id == member_id, qualifies(now - timedelta(days=window_days)),
            )
        )
        or 0
    )


def tier_for(tiers: Sequence[T], points: int) -> T:
    reached = [t for t in tiers if t.threshold <= points]
    return reached[-1] if reached else tiers[0]


def progress(session: Session, member: Member, now: datetime, window_days: int) -> TierProgress[Tier]:
    return progress_at(active_tiers(session, member.program_id), qualifying_points(session, member.id, now, window_days))


def progress_at(tiers: Sequence[T], points: int) -> TierProgress[T]:
    """Where ``points`` qualifying points stand among ``tiers`` (lowest threshold first)."""
    tier = tier_for(tiers, points)
    higher = [t for t in tiers if t.threshold > points]
    next_tier = higher[0] if higher else None
    return TierProgress(tier, points, next_tier, next_tier.threshold - points if next_tier else 0)


def evaluate(session: Session, member: Member, now: datetime, window_days: int) -> TierChanged | None:
    """Move the member to the tier their window earns; say so if it changed."""
    current = progress(session, member, now, window_days).tier
    if member.tier_id == current.id:
        return None
    old = session.get(Tier, member.tier_id) if member.tier_id else None
    member.tier_id = current.id
    member.tier = current
    upgraded = old is None or current.threshold > old.threshold
    return TierChanged(member.id, old.name if old else None, current.name, upgraded)


def multiplier(member: Member) -> int:
    """The member's earn multiplier in permille (1000 = 1x)."""
    return member.tier.multiplier_permille if member.tier else 1000


def review(session: Session, program_id: int, now: datetime, window_days: int, after_member_id: int = 0,
           limit: int = 500) -> tuple[list[TierChanged], list[int]]:
    """Re-evaluate a chunk of members (in id order after ``after_member_id``) as the window
    rolls on: the changes, and the ids looked at (the next chunk starts after the last).

    One grouped query finds who moved; only those are locked and evaluated again, so a
    purchase evaluating the same member meanwhile cannot be overwritten with stale points."""
    chunk = list(session.execute(
        select(Member.id, Member.tier_id)
        .where(Member.program_id == program_id, Member.deleted_at.is_(None), Member.id > after_member_id)
        .order_by(Member.id)
        .limit(limit)
    ))
    if not chunk:
        return [], []
    tiers = active_tiers(session, program_id)
    points = {member_id: total for member_id, total in session.execute(
        select(LedgerEntry.member_id, func.sum(LedgerEntry.amount))
        .where(
            LedgerEntry.member_id.in_([member_id for member_id, _ in chunk]),
            LedgerEntry.lot_at > now - timedelta(days=window_days),
            LedgerEntry.kind.in_(QUALIFYING_KINDS),
        )
        .group_by(LedgerEntry.member_id)
    )}
    changes = []
    for member_id, tier_id in chunk:
        if tier_for(tiers, int(points.get(member_id, 0))).id == tier_id:
            continue
        change = evaluate(session, lock_member(session, member_id), now, window_days)
        if change:
            changes.append(change)
    return changes, [member_id for member_id, _ in chunk]
