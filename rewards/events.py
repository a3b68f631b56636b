"""Things that happened to a member that they should be told about.

Domain functions return these; the conversational core turns them into messages in the
member's language, and the composition root decides where they go.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PointsEarned:
    member_id: int
    points: int
    balance: int
    reason: str  # purchase | join | birthday | referral | survey | adjust


@dataclass(frozen=True)
class PointsReversed:
    member_id: int
    points: int
    balance: int
    receipt_id: str


@dataclass(frozen=True)
class TierChanged:
    member_id: int
    old_tier: str | None
    new_tier: str
    upgraded: bool


@dataclass(frozen=True)
class ReferralQualified:
    member_id: int  # the one being told
    points: int
    friend_side: bool  # True for the referee's message


Event = PointsEarned | PointsReversed | TierChanged | ReferralQualified
