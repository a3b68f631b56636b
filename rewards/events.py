"""Things that happened to a member that they should be told about.

Domain functions return these; the conversational core turns them into messages in the
member's language, and the composition root decides where they go.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date


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
class PointsAdjusted:
    """Staff added (or, negative, took off) points by hand, with a reason kept in the ledger."""

    member_id: int
    points: int
    balance: int


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


@dataclass(frozen=True)
class ReferralReversed:
    """The purchase that paid a referral was refunded: its bonus was taken back."""

    member_id: int  # the one being told
    points: int  # taken back
    balance: int
    friend_side: bool  # True for the referee's message


# --- told by the clock's automations (scheduler/jobs.py) -----------------------------


@dataclass(frozen=True)
class PointsExpired:
    member_id: int
    points: int
    balance: int


@dataclass(frozen=True)
class PointsExpiring:
    member_id: int
    points: int  # expiring within ``within_days``
    expires_on: date  # the first of them, in the program's time zone
    within_days: int


@dataclass(frozen=True)
class Birthday:
    member_id: int
    points: int  # 0: a greeting without a bonus
    balance: int


@dataclass(frozen=True)
class WinBack:
    member_id: int
    days: int  # days since their last visit or chat


@dataclass(frozen=True)
class SurveyQuestion:
    member_id: int


Event = (PointsEarned | PointsReversed | PointsAdjusted | TierChanged | ReferralQualified | ReferralReversed | PointsExpired
         | PointsExpiring | Birthday | WinBack | SurveyQuestion)
