"""What staff see of one member beyond their standing (rewards/standing.py) and ledger
(``ledger.history``): their codes, the friends they invited and who invited them, and the
channels they reach us on with what each allows (marketing, STOP)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from rewards.models import Code, Identity, Member, Referral


def code_status(code: Code, now: datetime) -> str:
    """issued, redeemed, expired or cancelled, as the till would find it ``now``: an issued
    code past its date is expired even before the clock's job has returned its points."""
    if code.status == "issued" and code.expires_at <= now:
        return "expired"
    return code.status


def codes(session: Session, member_id: int, limit: int = 100) -> list[Code]:
    """The member's redemption codes, newest first."""
    return list(session.scalars(
        select(Code).where(Code.member_id == member_id).order_by(Code.issued_at.desc(), Code.id.desc()).limit(limit)
    ))


def code_of(session: Session, member_id: int, code_id: int) -> Code | None:
    """One of the member's codes (None when the id is not theirs)."""
    return session.scalar(select(Code).where(Code.id == code_id, Code.member_id == member_id))


def identities(session: Session, member_id: int) -> list[Identity]:
    """The channels the member reaches us on, the most recent first."""
    return list(session.scalars(
        select(Identity).where(Identity.member_id == member_id).order_by(Identity.last_seen_at.desc(), Identity.id.desc())
    ))


@dataclass(frozen=True, slots=True)
class ReferralLine:
    invited_by_them: bool  # False: the line says who invited this member
    other_code: str | None  # the other member's code (None: an invite nobody took yet)
    status: str
    created_at: datetime


def referrals(session: Session, member_id: int, limit: int = 100) -> list[ReferralLine]:
    """Who this member invited (newest first), and who invited them."""
    other = aliased(Member)
    invited = session.execute(
        select(other.code, Referral.status, Referral.created_at)
        .select_from(Referral).outerjoin(other, other.id == Referral.referee_id)
        .where(Referral.referrer_id == member_id).order_by(Referral.created_at.desc(), Referral.id.desc()).limit(limit)
    ).all()
    by = session.execute(
        select(other.code, Referral.status, Referral.created_at)
        .select_from(Referral).join(other, other.id == Referral.referrer_id)
        .where(Referral.referee_id == member_id)
    ).all()
    return ([ReferralLine(False, code, status, at) for code, status, at in by]
            + [ReferralLine(True, code, status, at) for code, status, at in invited])
