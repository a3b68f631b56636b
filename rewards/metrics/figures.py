"""``compute``: the figures of a period and of the period of the same length before it,
the daily series the charts draw, and ``to_json`` with the keys the API documents.

Every figure is read from the rows of its period through an index (the ledger by program
and time, purchases by program and time...), so a 30-day period reads 30 days, whatever
the program's age. How each is computed is said once, in ``definitions.DEFINITIONS``.
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
from sqlalchemy import and_, case, distinct, func, or_, select
from sqlalchemy.orm import Session

from rewards.metrics.periods import Buckets, Period, choose
from rewards.models import (
    Campaign,
    CampaignRun,
    Code,
    Identity,
    LedgerEntry,
    Member,
    MemberDay,
    Purchase,
    Referral,
    Reward,
    Survey,
    Tier,
)
from rewards.program.config import ProgramConfig
from rewards.promotions.campaign_stats import counts

EARNED_KINDS = ("purchase", "visit", "join", "birthday", "referral", "survey", "bonus")
# ledger kind -> the accounting column it adds to (its amount's sign as it is)
COLUMNS = {**dict.fromkeys(EARNED_KINDS, "earned"), "redeem": "redeemed", "code_return": "returned",
           "reversal": "refunded", "expire": "expired", "forfeit": "expired", "adjust": "adjusted"}
# Purchases that count: not refunded (a refund after the period takes it out of the period too).
_KEPT = Purchase.refunded_at.is_(None)


def ratio(part: int | Decimal, whole: int | Decimal) -> float | None:
    """part / whole to four decimals; None when there is nothing to divide by."""
    return None if not whole else round(float(Decimal(part) / Decimal(whole)), 4)


@dataclass
class Points:
    earned: int = 0
    redeemed: int = 0  # positive: points taken by redemptions
    returned: int = 0
    refunded: int = 0  # positive: points taken back
    expired: int = 0  # positive
    adjusted: int = 0  # signed
    outstanding: int = 0
    opening: int = 0

    def add(self, kind: str, amount: int) -> None:
        column = COLUMNS[kind]
        setattr(self, column, getattr(self, column) + (amount if column in ("earned", "returned", "adjusted") else -amount))

    @property
    def redemption_rate(self) -> float | None:
        return ratio(self.redeemed - self.returned, self.earned)


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
    buyers: set[int] = field(default_factory=set, repr=False)  # members with a purchase

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
class Day:
    """One local day of the charts."""

    day: date
    new_members: int = 0
    purchases: int = 0
    sales_minor: int = 0
    points: Points = field(default_factory=Points)


@dataclass
class Metrics:
    config: ProgramConfig
    current: Figures
    previous: Figures
    days: list[Day]
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
            "redemption_rate": p.redemption_rate,
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
            now: datetime) -> Metrics:
    """The figures for the local dates ``start`` to ``end`` (inclusive) in the program's
    time zone, beside the period of the same length before."""
    if end < start:
        raise ValueError("the period ends before it starts")
    period = Period(start, end, ZoneInfo(config.timezone))
    dialect = session.get_bind().dialect.name
    previous = period.previous()
    current_figures, previous_figures = Figures(period), Figures(previous)
    both = (previous_figures, current_figures)
    _purchase_figures(session, program_id, period, both)
    days = _day_figures(session, program_id, period, both, dialect)
    for f in both:
        _member_figures(session, program_id, f)
        _nps(session, program_id, f)
    _outstanding(session, program_id, period, both)
    return Metrics(
        config, current_figures, previous_figures, days,
        _rewards(session, program_id, period), _campaigns(session, program_id, config, period),
        _by_tier(session, program_id), _by_channel(session, program_id),
    )


def _in(column: Any, period: Period) -> Any:
    return and_(column >= period.begins, column < period.ends)


def _purchase_figures(session: Session, program_id: int, period: Period, both: tuple[Figures, Figures]) -> None:
    """Purchases, repeat purchasers and retention of both periods, from one read of the
    purchases of three periods (the previous period's retention looks one further back):
    each member's purchases in each period, grouped in SQL."""
    earliest = period.previous().previous()
    index = case((Purchase.created_at < both[0].period.begins, 0), (Purchase.created_at < period.begins, 1), else_=2)
    rows = select(Purchase.member_id, index.label("p"), Purchase.amount_minor).where(
        Purchase.program_id == program_id, Purchase.created_at >= earliest.begins, Purchase.created_at < period.ends,
        _KEPT).subquery()
    buyers: list[set[int]] = [set(), set(), set()]
    for member_id, p, n, sales in session.execute(
        select(rows.c.member_id, rows.c.p, func.count(), func.sum(rows.c.amount_minor)).group_by(rows.c.member_id, rows.c.p)
    ):
        buyers[p].add(member_id)
        if p:
            f = both[p - 1]
            f.purchases += n
            f.sales_minor += int(sales)
            f.repeat_purchasers += n >= 2
    for p, f in enumerate(both, start=1):
        f.purchasers = len(buyers[p])
        f.previous_purchasers = len(buyers[p - 1])
        f.retained = len(buyers[p - 1] & buyers[p])
        f.buyers = buyers[p]


def _member_figures(session: Session, program_id: int, f: Figures) -> None:
    period, m = f.period, Member
    f.members_total = session.scalar(select(func.count()).where(
        m.program_id == program_id, m.joined_at < period.ends, or_(m.deleted_at.is_(None), m.deleted_at >= period.ends),
    )) or 0
    f.members_referred = session.scalar(select(func.count()).where(
        Referral.program_id == program_id, Referral.referee_id.is_not(None), _in(Referral.joined_at, period))) or 0
    active = set(f.buyers)
    active.update(session.scalars(select(Code.member_id).where(
        Code.program_id == program_id, _in(Code.issued_at, period), Code.cost > 0)))
    active.update(session.scalars(select(MemberDay.member_id).distinct().where(
        MemberDay.program_id == program_id, MemberDay.day >= period.start, MemberDay.day <= period.end)))
    f.members_active = len(active)
    referrers = session.scalars(select(Referral.referrer_id).distinct().where(
        Referral.program_id == program_id, Referral.referee_id.is_not(None), _in(Referral.joined_at, period)))
    f.referrers = sum(1 for r in referrers if r in active)


def _nps(session: Session, program_id: int, f: Figures) -> None:
    for score, n in session.execute(
        select(Survey.score, func.count())
        .where(Survey.program_id == program_id, _in(Survey.answered_at, f.period)).group_by(Survey.score)
    ):
        f.nps_responses += n
        f.nps_promoters += n if score >= 9 else 0
        f.nps_detractors += n if score <= 6 else 0


def _outstanding(session: Session, program_id: int, period: Period, both: tuple[Figures, Figures]) -> None:
    """Points held at each period's start and end: today's balances less what was posted
    since (the days already read, and whatever came after the period)."""
    held = int(session.scalar(select(func.coalesce(func.sum(Member.balance), 0)).where(
        Member.program_id == program_id)) or 0)
    after = int(session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.program_id == program_id, LedgerEntry.created_at >= period.ends)) or 0)
    closing = held - after
    for f in reversed(both):
        p = f.points
        f.points.outstanding = closing
        closing -= p.earned - p.refunded - p.redeemed + p.returned - p.expired + p.adjusted
        f.points.opening = closing


def outstanding_at(session: Session, program_id: int, instant: datetime) -> int:
    """Points held at ``instant``: today's balances less what was posted since (the ledger
    read from ``instant`` on, not from the beginning)."""
    held = session.scalar(select(func.coalesce(func.sum(Member.balance), 0)).where(Member.program_id == program_id))
    since = session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.program_id == program_id, LedgerEntry.created_at >= instant))
    return int(held or 0) - int(since or 0)


def _day_figures(session: Session, program_id: int, period: Period, both: tuple[Figures, Figures],
                 dialect: str) -> list[Day]:
    """New members and points moved in each day of both periods (one read of each, grouped
    by quarter hour in SQL); the period totals are the sums of their days. Purchases a day
    for the current period's charts."""
    span = Period(both[0].period.start, period.end, period.zone)
    days = {d: Day(d) for d in span.dates()}
    buckets = Buckets(span, dialect)
    day_of = buckets.day_of
    joined = select(buckets.of(Member.joined_at).label("b")).where(
        Member.program_id == program_id, _in(Member.joined_at, span)).subquery()
    for n_bucket, n in session.execute(select(joined.c.b, func.count()).group_by(joined.c.b)):
        days[day_of[n_bucket]].new_members += n
    bought = select(buckets.of(Purchase.created_at).label("b"), Purchase.amount_minor).where(
        Purchase.program_id == program_id, _in(Purchase.created_at, period), _KEPT).subquery()
    for n_bucket, n, sales in session.execute(
        select(bought.c.b, func.count(), func.sum(bought.c.amount_minor)).group_by(bought.c.b)
    ):
        day = days[day_of[n_bucket]]
        day.purchases += n
        day.sales_minor += int(sales)
    for d, points in ledger_by_day(session, program_id, span, dialect, buckets).items():
        days[d].points = points
    for f in both:
        for d in f.period.dates():
            day = days[d]
            f.members_new += day.new_members
            for column in ("earned", "redeemed", "returned", "refunded", "expired", "adjusted"):
                setattr(f.points, column, getattr(f.points, column) + getattr(day.points, column))
    return [days[d] for d in period.dates()]


def ledger_by_day(session: Session, program_id: int, period: Period, dialect: str,
                  buckets: Buckets | None = None) -> dict[date, Points]:
    """The ledger's movements of each local day of the period, by accounting column."""
    out: dict[date, Points] = defaultdict(Points)
    buckets = buckets or Buckets(period, dialect)
    moved = select(buckets.of(LedgerEntry.created_at).label("b"), LedgerEntry.kind, LedgerEntry.amount).where(
        LedgerEntry.program_id == program_id, _in(LedgerEntry.created_at, period)).subquery()
    for n_bucket, kind, amount in session.execute(
        select(moved.c.b, moved.c.kind, func.sum(moved.c.amount)).group_by(moved.c.b, moved.c.kind)
    ):
        out[buckets.day_of[n_bucket]].add(kind, int(amount))
    return out


def _rewards(session: Session, program_id: int, period: Period) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Reward.slug, Reward.name, func.count(), func.sum(Code.cost))
        .join(Reward, Reward.id == Code.reward_id)
        .where(Code.program_id == program_id, _in(Code.issued_at, period), Code.cost > 0)
        .group_by(Reward.slug, Reward.name).order_by(func.count().desc(), Reward.slug)
    )
    return [{"reward": slug, "name": name, "redeemed": n, "points": int(points)} for slug, name, n, points in rows]


def _campaigns(session: Session, program_id: int, config: ProgramConfig, period: Period) -> list[dict[str, Any]]:
    sent = select(CampaignRun.campaign_id).where(CampaignRun.program_id == program_id,
                                                 _in(CampaignRun.started_at, period))
    out = []
    for campaign in session.scalars(select(Campaign).where(Campaign.id.in_(sent)).order_by(Campaign.id)):
        c = counts(session, campaign, config.promotions.conversion_days)
        out.append({"id": campaign.id, "name": campaign.name, "sent": c.sent, "converted": c.converted,
                    "conversion_rate": ratio(c.converted, c.sent)})
    return out


def _by_tier(session: Session, program_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Tier.name, func.count(Member.id)).select_from(Member).outerjoin(Tier, Tier.id == Member.tier_id)
        .where(Member.program_id == program_id, Member.deleted_at.is_(None)).group_by(Tier.name)
    )
    return {name or "-": n for name, n in sorted(rows, key=lambda r: (r[0] is None, r[0] or ""))}



def _by_channel(session: Session, program_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Identity.channel, func.count(distinct(Identity.member_id)))
        .join(Member, Member.id == Identity.member_id)
        .where(Identity.program_id == program_id, Member.deleted_at.is_(None)).group_by(Identity.channel)
    )
    return dict(sorted(rows))


def for_period(session: Session, program_id: int, config: ProgramConfig, now: datetime, *,
               days: int | str | None = None, start: str | date | None = None,
               end: str | date | None = None) -> Metrics:
    """``compute`` for a period as a surface receives it (see ``periods.choose``)."""
    today = now.astimezone(ZoneInfo(config.timezone)).date()
    first, last = choose(today, days, start, end)
    return compute(session, program_id, config, first, last, now)
