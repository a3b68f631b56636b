"""``compute``: the figures of a period and of the period of the same length before it,
the daily series the charts draw, and ``to_json`` with the keys the API documents.

The figures come from the clock's summaries (``summaries.py``) and, for what happened
since the clock's last run or what it has not summed up yet, from the events themselves
(``events.py``), so a period reads a row a day and the last minutes' events, whatever the
size of the program. How each is computed is said once, in ``definitions.DEFINITIONS``.
Deleted members: their purchases, points and days stay in the figures of the days they
happened; they leave ``members.total`` the day they deleted their data.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import get_currency_precision
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from rewards.metrics.events import DayTotals, Points, within
from rewards.metrics.periods import Period, choose
from rewards.metrics.summaries import Reader
from rewards.models import Campaign, CampaignRun, Identity, Member, Reward, Tier
from rewards.program.config import ProgramConfig
from rewards.promotions.campaign_stats import counts

__all__ = ["Metrics", "Points", "compute", "for_period", "ratio"]


def ratio(part: int | Decimal, whole: int | Decimal) -> float | None:
    """part / whole to four decimals; None when there is nothing to divide by."""
    return None if not whole else round(float(Decimal(part) / Decimal(whole)), 4)


@dataclass
class Figures:
    """One period's figures."""

    period: Period
    members_total: int = 0
    members_new: int = 0
    members_active: int = 0
    members_referred: int = 0  # new members who came with an invitation
    purchases: int = 0
    sales_minor: int = 0
    purchasers: int = 0
    repeat_purchasers: int = 0
    referrers: int = 0  # active members whose invited friend joined in the period
    retained: int = 0  # previous period's purchasers who purchased again in this one
    previous_purchasers: int = 0
    nps_promoters: int = 0
    nps_detractors: int = 0
    nps_responses: int = 0
    points: Points = field(default_factory=Points)

    @property
    def nps_score(self) -> float | None:
        if not self.nps_responses:
            return None
        return round(float(Decimal(100 * (self.nps_promoters - self.nps_detractors)) / self.nps_responses), 1)

    @property
    def retention_rate(self) -> float | None:
        return ratio(self.retained, self.previous_purchasers)

    @property
    def churn_rate(self) -> float | None:
        return ratio(self.previous_purchasers - self.retained, self.previous_purchasers)


@dataclass
class Metrics:
    config: ProgramConfig
    current: Figures
    previous: Figures
    days: list[DayTotals]
    rewards: list[dict[str, Any]]
    campaigns: list[dict[str, Any]]
    by_tier: dict[str, int]
    by_channel: dict[str, int]

    def money(self, minor: int | Decimal) -> str:
        places = get_currency_precision(self.config.currency)
        return str((Decimal(minor) / (10 ** places)).quantize(Decimal(1).scaleb(-places)))

    def outstanding_value(self, points: int) -> str | None:
        value = self.config.point_value
        if value is None:
            return None
        places = get_currency_precision(self.config.currency)
        return str((value * points).quantize(Decimal(1).scaleb(-places)))

    def figures_json(self, f: Figures) -> dict[str, Any]:
        p = f.points
        average = self.money(Decimal(f.sales_minor) / f.purchases) if f.purchases else None
        return {
            "period": {"from": f.period.start.isoformat(), "to": f.period.end.isoformat(), "days": f.period.days},
            "members": {"total": f.members_total, "new": f.members_new, "active": f.members_active,
                        "referred_share": ratio(f.members_referred, f.members_new)},
            "purchases": {"count": f.purchases, "sales": self.money(f.sales_minor), "average": average,
                          "per_active_member": ratio(f.purchases, f.members_active)},
            "repeat_purchase_rate": ratio(f.repeat_purchasers, f.purchasers),
            "referral_rate": ratio(f.referrers, f.members_active),
            "retention_rate": f.retention_rate,
            "churn_rate": f.churn_rate,
            "nps": {"score": f.nps_score, "responses": f.nps_responses,
                    "promoters": f.nps_promoters, "detractors": f.nps_detractors},
            "points": {"earned": p.earned, "redeemed": p.redeemed, "returned": p.returned, "refunded": p.refunded,
                       "expired": p.expired, "adjusted": p.adjusted, "outstanding": p.outstanding,
                       "outstanding_value": self.outstanding_value(p.outstanding)},
            "redemption_rate": ratio(p.redeemed - p.returned, p.earned),
        }

    def to_json(self) -> dict[str, Any]:
        out = self.figures_json(self.current)
        out["currency"] = self.config.currency
        out["timezone"] = self.config.timezone
        out["members"]["by_tier"] = self.by_tier
        out["members"]["by_channel"] = self.by_channel
        out["rewards"] = self.rewards
        out["campaigns"] = self.campaigns
        out["previous"] = self.figures_json(self.previous)
        out["daily"] = [
            {"date": d.day.isoformat(), "new_members": d.new_members, "purchases": d.purchases,
             "sales": self.money(d.sales_minor), "points_earned": d.points.earned, "points_redeemed": d.points.redeemed}
            for d in self.days
        ]
        return out


def compute(session: Session, program_id: int, config: ProgramConfig, start: date, end: date,
            now: datetime, *, summaries: bool = True) -> Metrics:
    """The figures for the local dates ``start`` to ``end`` (inclusive) in the program's
    time zone, beside the period of the same length before. ``summaries``: read the
    clock's summaries where it made them (False: every figure from the events, which the
    tests compare them with)."""
    if end < start:
        raise ValueError("the period ends before it starts")
    zone = ZoneInfo(config.timezone)
    period = Period(start, end, zone)
    previous = period.previous()
    reader = Reader(session, program_id, zone, now, summaries)
    both = (Figures(previous), Figures(period))
    span = Period(previous.start, period.end, zone)
    days = reader.days(span)
    members, held = reader.held_before(span.start)
    for f in both:
        total = DayTotals(f.period.start)  # the period's days added up
        for d in f.period.dates():
            total.add(days[d])
        f.points.opening = held
        members += total.new_members - total.deleted_members
        held += total.points.net
        f.members_new, f.members_referred = total.new_members, total.referred
        f.purchases, f.sales_minor = total.purchases, total.sales_minor
        f.nps_responses, f.nps_promoters, f.nps_detractors = total.nps_responses, total.nps_promoters, total.nps_detractors
        f.points.add_points(total.points)
        f.members_total, f.points.outstanding = members, held
        counts = reader.window(f.period)
        f.purchasers, f.repeat_purchasers = counts.purchasers, counts.repeat_purchasers
        f.previous_purchasers, f.retained = counts.previous_purchasers, counts.retained
        f.members_active, f.referrers = counts.active, counts.referrers
    return Metrics(
        config, both[1], both[0], [days[d] for d in period.dates()], _rewards(session, total.rewards),
        _campaigns(session, program_id, config, period), _by_tier(session, program_id), _by_channel(session, program_id),
    )


def _rewards(session: Session, issued: dict[int, list[int]]) -> list[dict[str, Any]]:
    """The current period's rewards taken (reward id -> [codes, points]), most taken first."""
    if not issued:
        return []
    names = {r.id: (r.slug, r.name) for r in session.scalars(select(Reward).where(Reward.id.in_(list(issued))))}
    rows = [{"reward": names[i][0], "name": names[i][1], "redeemed": n, "points": points}
            for i, (n, points) in issued.items()]
    return sorted(rows, key=lambda r: (-r["redeemed"], r["reward"]))


def _campaigns(session: Session, program_id: int, config: ProgramConfig, period: Period) -> list[dict[str, Any]]:
    sent = select(CampaignRun.campaign_id).where(CampaignRun.program_id == program_id,
                                                 within(CampaignRun.started_at, period))
    out = []
    for campaign in session.scalars(select(Campaign).where(Campaign.id.in_(sent)).order_by(Campaign.id)):
        c = counts(session, campaign, config.promotions.conversion_days)
        out.append({"id": campaign.id, "name": campaign.name, "sent": c.sent, "converted": c.converted,
                    "conversion_rate": ratio(c.converted, c.sent)})
    return out


def _by_tier(session: Session, program_id: int) -> dict[str, int]:
    """Members (not deleted) by tier, counted from the members' deletion-and-tier index."""
    counted = dict(session.execute(
        select(Member.tier_id, func.count()).where(Member.program_id == program_id, Member.deleted_at.is_(None))
        .group_by(Member.tier_id)).all())
    names = dict(session.execute(select(Tier.id, Tier.name).where(Tier.id.in_([t for t in counted if t is not None]))).all())
    by_name: dict[str, int] = defaultdict(int)
    for tier_id, n in counted.items():
        by_name[names[tier_id] if tier_id is not None else "-"] += n
    return {name: by_name[name] for name in sorted(by_name, key=lambda name: (name == "-", name))}


def _by_channel(session: Session, program_id: int) -> dict[str, int]:
    """Members by channel: a deleted member's identities are deleted with their data, so
    the identities' own index says it."""
    rows = session.execute(
        select(Identity.channel, func.count(distinct(Identity.member_id)))
        .where(Identity.program_id == program_id, Identity.member_id.is_not(None)).group_by(Identity.channel)
    )
    return dict(sorted(rows.all()))


def for_period(session: Session, program_id: int, config: ProgramConfig, now: datetime, *,
               days: int | str | None = None, start: str | date | None = None,
               end: str | date | None = None, summaries: bool = True) -> Metrics:
    """``compute`` for a period as a surface receives it (see ``periods.choose``)."""
    today = now.astimezone(ZoneInfo(config.timezone)).date()
    first, last = choose(today, days, start, end)
    return compute(session, program_id, config, first, last, now, summaries=summaries)
