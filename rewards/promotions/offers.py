"""Campaign offers: the points multiplier earning applies inside its window, and coupons
issued free to a campaign's recipients.

A multiplier applies to a purchase made inside ``[offer_starts_at, offer_ends_at)`` by a
member the campaign targeted (a recipient of one of its runs, sent or skipped); a campaign
to everyone (audience ``all``) applies to every member, also those who join during the
window. It multiplies with the tier multiplier (Gold 1.5x on a 2x weekend earns 3x) and
the product is rounded once, by the program's rule. Offers do not stack: of several
active multipliers the highest applies. A cancelled campaign's multiplier stops.

A coupon is a redemption code of cost 0: no points are debited, so the ledger has no entry
for it and the audit expects none (a code "took its cost once": zero), and an expired
coupon gives nothing back. It ignores the reward's stock and tier (the merchant chose who
gets it) but counts toward the reward's per-member limit like any code the member holds.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from rewards.codes import new_redemption_code
from rewards.models import Campaign, CampaignRecipient, Code, Member, Reward
from rewards.storage.bulk import insert_many

NO_MULTIPLIER = 1000


def multiplier_permille(session: Session, member: Member, now: datetime) -> int:
    """The campaign multiplier for ``member``'s purchase at ``now``, in permille (1000: none)."""
    active = session.execute(
        select(Campaign.id, Campaign.multiplier_permille, Campaign.audience)
        .where(Campaign.program_id == member.program_id, Campaign.offer_kind == "multiplier",
               Campaign.offer_ends_at > now, Campaign.offer_starts_at <= now, Campaign.status != "cancelled")
        .order_by(Campaign.multiplier_permille.desc())
    ).all()
    for campaign_id, permille, audience in active:
        if not audience or session.scalar(
            select(CampaignRecipient.id)
            .where(CampaignRecipient.member_id == member.id, CampaignRecipient.campaign_id == campaign_id)
            .limit(1)
        ) is not None:
            return max(int(permille), NO_MULTIPLIER)
    return NO_MULTIPLIER


@dataclass(frozen=True, slots=True)
class Coupon:
    code_id: int
    code: str
    expires_at: datetime


def issue_coupons(session: Session, program_id: int, reward: Reward, member_ids: Iterable[int],
                  now: datetime) -> dict[int, Coupon]:
    """One free code of ``reward`` for each member, in one multi-row INSERT; by member id.

    Codes carry 65 random bits, so unlike ``redemption.issue`` no look-up is made for a
    clash: the UNIQUE constraint would refuse one, failing this transaction, which is
    retried whole."""
    expires_at = now + timedelta(days=reward.code_valid_days)
    rows = [
        {"program_id": program_id, "member_id": member_id, "reward_id": reward.id, "code": new_redemption_code(),
         "status": "issued", "cost": 0, "issued_at": now, "expires_at": expires_at}
        for member_id in member_ids
    ]
    if not rows:
        return {}
    inserted = insert_many(session, Code.__table__, rows, returning=("id", "member_id", "code"))
    return {member_id: Coupon(code_id, code, expires_at) for code_id, member_id, code in inserted}
