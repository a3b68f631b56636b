"""Per-campaign counts, read from the recipients table joined to each recipient's outbox row
(through the outbox's unique dedupe key, rewards/promotions/campaigns.py ``recipient_key``):

    targeted   audience members decided, over all runs
    queued     messages written to the outbox
    waiting    of those, not sent yet (quiet hours, or the sender's pace)
    sent       handed to the provider
    delivered  the provider confirmed delivery (or reading)
    failed     the provider refused it, or said it was not delivered
    skipped    by reason: the rules' reasons (no_consent, opted_out, no_channel, over_cap,
               whatsapp_window), "campaign cancelled" for messages withdrawn by a cancel,
               and what the sender said when it skipped one at sending time
    converted  recipients sent a message who then purchased, redeemed points for a reward
               or used a code within ``[promotions] conversion_days`` (default 7)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import and_, case, distinct, exists, func, or_, select
from sqlalchemy.orm import Session

from rewards.models import SKIP_REASONS, Campaign, CampaignRecipient, CampaignRun, Code, OutboxMessage, Purchase
from rewards.promotions.campaigns import recipient_key

DELIVERED = ("delivered", "read")
UNDELIVERED = ("undelivered", "failed")


@dataclass
class Counts:
    targeted: int = 0
    queued: int = 0
    waiting: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    converted: int = 0
    conversion_days: int = 7
    runs: int = 0

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "targeted": self.targeted, "queued": self.queued, "waiting": self.waiting, "sent": self.sent,
            "delivered": self.delivered, "failed": self.failed, "skipped": self.skipped_total,
            "skipped_by_reason": dict(self.skipped), "converted": self.converted,
            "conversion_days": self.conversion_days, "runs": self.runs,
        }


def _joined() -> tuple[type[CampaignRecipient], type[OutboxMessage], object]:
    r, o = CampaignRecipient, OutboxMessage
    return r, o, and_(o.program_id == r.program_id, o.dedupe_key == recipient_key())


def counts(session: Session, campaign: Campaign, conversion_days: int = 7) -> Counts:
    r, o, on = _joined()
    result = Counts(conversion_days=conversion_days)
    sender_note = case((o.status == "skipped", func.substr(o.error, 1, 80)), else_=None)
    rows = session.execute(
        select(r.status, r.reason, o.status, o.delivery_status, sender_note, func.count())
        .select_from(r).outerjoin(o, on)
        .where(r.campaign_id == campaign.id)
        .group_by(r.status, r.reason, o.status, o.delivery_status, sender_note)
    )
    for status, reason, sent_status, delivery, note, n in rows:
        result.targeted += n
        if status == "skipped":
            result.skipped[reason] = result.skipped.get(reason, 0) + n
            continue
        result.queued += n
        if sent_status in ("queued", "sending"):
            result.waiting += n
        elif sent_status == "sent":
            result.sent += n
            result.delivered += n if delivery in DELIVERED else 0
            result.failed += n if delivery in UNDELIVERED else 0
        elif sent_status == "failed":
            result.failed += n
        elif sent_status == "skipped":
            key = note or "skipped by the sender"
            result.skipped[key] = result.skipped.get(key, 0) + n
    result.converted = _converted(session, campaign, conversion_days)
    result.runs = session.scalar(select(func.count(CampaignRun.id)).where(CampaignRun.campaign_id == campaign.id)) or 0
    return result


def _converted(session: Session, campaign: Campaign, days: int) -> int:
    """Per run (its window starts when it did, so no date arithmetic in SQL), recipients
    whose message was sent and who acted after it was."""
    r, o, on = _joined()
    total = 0
    for run_id, started_at in session.execute(
        select(CampaignRun.id, CampaignRun.started_at).where(CampaignRun.campaign_id == campaign.id)
    ):
        ends = started_at + timedelta(days=days)
        purchased = exists().where(Purchase.member_id == r.member_id, Purchase.created_at >= o.sent_at,
                                   Purchase.created_at < ends)
        redeemed = exists().where(Code.member_id == r.member_id, or_(
            and_(Code.used_at >= o.sent_at, Code.used_at < ends),
            and_(Code.cost > 0, Code.issued_at >= o.sent_at, Code.issued_at < ends),
        ))
        total += session.scalar(
            select(func.count(distinct(r.member_id))).select_from(r).join(o, on)
            .where(r.run_id == run_id, r.status == "queued", o.status == "sent", or_(purchased, redeemed))
        ) or 0
    return total
