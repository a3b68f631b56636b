"""The rewards catalog: what a member may redeem now, and why not when they may not."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rewards import ledger, tiers
from rewards.models import Code, Member, Reward
from rewards.program.config import ProgramConfig


@dataclass(frozen=True)
class Offer:
    reward: Reward
    blocked: str | None  # None, or why not: points | tier | stock | limit | dates


def active_rewards(session: Session, program_id: int) -> list[Reward]:
    return list(
        session.scalars(
            select(Reward).where(Reward.program_id == program_id, Reward.retired_at.is_(None)).order_by(Reward.position)
        )
    )


def find_reward(session: Session, program_id: int, ref: str) -> Reward | None:
    return session.scalar(
        select(Reward).where(Reward.program_id == program_id, Reward.slug == ref.strip().lower(), Reward.retired_at.is_(None))
    )


def blocked_reason(
    session: Session, config: ProgramConfig, member: Member, reward: Reward, now: datetime, spendable: int
) -> str | None:
    today = now.astimezone(ZoneInfo(config.timezone)).date()
    if reward.retired_at is not None or (reward.valid_from and today < reward.valid_from) or (
        reward.valid_until and today > reward.valid_until
    ):
        return "dates"
    if reward.min_tier:
        needed = config.tier_by_name(reward.min_tier)
        current = tiers.progress(session, member, now, config.tier_rules.window_days).tier
        if needed is not None and current.threshold < needed.threshold:
            return "tier"
    if reward.stock is not None and reward.stock <= 0:
        return "stock"
    if reward.per_member_limit is not None:
        taken = session.scalar(
            select(func.count(Code.id)).where(
                Code.member_id == member.id, Code.reward_id == reward.id, Code.status.in_(("issued", "redeemed"))
            )
        )
        if (taken or 0) >= reward.per_member_limit:
            return "limit"
    if spendable < reward.cost:
        return "points"
    return None


def offers(session: Session, config: ProgramConfig, member: Member, now: datetime) -> list[Offer]:
    """Every active reward with whether this member can have it now."""
    available = ledger.spendable(session, member, now)
    return [
        Offer(reward, blocked_reason(session, config, member, reward, now, available))
        for reward in active_rewards(session, member.program_id)
    ]
