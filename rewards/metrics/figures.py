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
from sqlalchemy import and_, case, distinct, func, or_, select, union
from sqlalchemy.orm import Session

from rewards.metrics.periods import Period, bucket, choose
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
    current = _figures(session, program_id, period, now)
    previous = _figures(session, program_id, period.previous(), now)
    return Metrics(
        config, current, previous, _days(session, program_id, period, dialect),
        _rewards(session, program_id, period), _campaigns(session, program_id, config, period),
        _by_tier(session, program_id), _by_channel(session, program_id),
    )


def _in(column: Any, period: Period) -> Any:
    return and_(column >= period.begins, column < period.ends)


def _purchasers(program_id: int, period: Period) -> Any:
    return select(Purchase.member_id).where(Purchase.program_id == program_id, _in(Purchase.created_at, period), _KEPT)


def _active(program_id: int, period: Period) -> Any:
    """Members with a purchase, a redemption or a message in the period (a UNION: each once)."""
    return union(
        _purchasers(program_id, period),
        select(Code.member_id).where(Code.program_id == program_id, _in(Code.issued_at, period), Code.cost > 0),
        select(MemberDay.member_id).where(MemberDay.program_id == program_id,
                                          MemberDay.day >= period.start, MemberDay.day <= period.end),
    ).subquery()


def _figures(session: Session, program_id: int, period: Period, now: datetime) -> Figures:
    f = Figures(period)
    m = Member
    f.members_total = session.scalar(select(func.count()).where(
        m.program_id == program_id, m.joined_at < period.ends, or_(m.deleted_at.is_(None), m.deleted_at >= period.ends),
    )) or 0
    f.members_new = session.scalar(select(func.count()).where(m.program_id == program_id, _in(m.joined_at, period))) or 0
    f.members_referred = session.scalar(select(func.count()).where(
        Referral.program_id == program_id, Referral.referee_id.is_not(None), _in(Referral.joined_at, period))) or 0
    active = _active(program_id, period)
    f.members_active = session.scalar(select(func.count()).select_from(active)) or 0
    f.referrers = session.scalar(select(func.count(distinct(Referral.referrer_id))).where(
        Referral.program_id == program_id, Referral.referee_id.is_not(None), _in(Referral.joined_at, period),
        Referral.referrer_id.in_(select(active.c.member_id)),
    )) or 0

    f.purchases, f.sales_minor = session.execute(
        select(func.count(), func.coalesce(func.sum(Purchase.amount_minor), 0))
        .where(Purchase.program_id == program_id, _in(Purchase.created_at, period), _KEPT)
    ).one()
    per_member = (select(Purchase.member_id, func.count().label("n"))
                  .where(Purchase.program_id == program_id, _in(Purchase.created_at, period), _KEPT)
                  .group_by(Purchase.member_id).subquery())
    purchasers, repeat = session.execute(
        select(func.count(), func.coalesce(func.sum(case((per_member.c.n >= 2, 1), else_=0)), 0))
        .select_from(per_member)
    ).one()
    f.purchasers, f.repeat_purchasers = int(purchasers), int(repeat)
    before = period.previous()
    earlier = select(Purchase.member_id).distinct().where(
        Purchase.program_id == program_id, _in(Purchase.created_at, before), _KEPT).subquery()
    again = select(Purchase.id).where(Purchase.member_id == earlier.c.member_id, _in(Purchase.created_at, period),
                                      _KEPT).exists()
    f.previous_purchasers, f.retained = session.execute(
        select(func.count(), func.coalesce(func.sum(case((again, 1), else_=0)), 0)).select_from(earlier)
    ).one()

    for score, n in session.execute(
        select(Survey.score, func.count())
        .where(Survey.program_id == program_id, _in(Survey.answered_at, period)).group_by(Survey.score)
    ):
        f.nps_responses += n
        f.nps_promoters += n if score >= 9 else 0
        f.nps_detractors += n if score <= 6 else 0

    for kind, amount in session.execute(
        select(LedgerEntry.kind, func.sum(LedgerEntry.amount))
        .where(LedgerEntry.program_id == program_id, _in(LedgerEntry.created_at, period))
        .group_by(LedgerEntry.kind)
    ):
        f.points.add(kind, int(amount))
    f.points.outstanding = outstanding_at(session, program_id, period.ends)
    f.points.opening = outstanding_at(session, program_id, period.begins)
    return f


def outstanding_at(session: Session, program_id: int, instant: datetime) -> int:
    """Points held at ``instant``: today's balances less what was posted since (the ledger
    read from ``instant`` on, not from the beginning)."""
    held = session.scalar(select(func.coalesce(func.sum(Member.balance), 0)).where(Member.program_id == program_id))
    since = session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.program_id == program_id, LedgerEntry.created_at >= instant))
    return int(held or 0) - int(since or 0)


def _days(session: Session, program_id: int, period: Period, dialect: str) -> list[Day]:
    days = {d: Day(d) for d in period.dates()}
    day_of = period.day_of_bucket()
    joined = select(bucket(Member.joined_at, dialect).label("b")).where(
        Member.program_id == program_id, _in(Member.joined_at, period)).subquery()
    for n_bucket, n in session.execute(select(joined.c.b, func.count()).group_by(joined.c.b)):
        days[day_of(n_bucket)].new_members += n
    bought = select(bucket(Purchase.created_at, dialect).label("b"), Purchase.amount_minor).where(
        Purchase.program_id == program_id, _in(Purchase.created_at, period), _KEPT).subquery()
    for n_bucket, n, sales in session.execute(
        select(bought.c.b, func.count(), func.sum(bought.c.amount_minor)).group_by(bought.c.b)
    ):
        day = days[day_of(n_bucket)]
        day.purchases += n
        day.sales_minor += int(sales)
    for d, points in ledger_by_day(session, program_id, period, dialect).items():
        days[d].points = points
    return list(days.values())


def ledger_by_day(session: Session, program_id: int, period: Period, dialect: str) -> dict[date, Points]:
    """The ledger's movements of each local day of the period, by accounting column."""
    out: dict[date, Points] = defaultdict(Points)
    day_of = period.day_of_bucket()
    moved = select(bucket(LedgerEntry.created_at, dialect).label("b"), LedgerEntry.kind, LedgerEntry.amount).where(
        LedgerEntry.program_id == program_id, _in(LedgerEntry.created_at, period)).subquery()
    for n_bucket, kind, amount in session.execute(
        select(moved.c.b, moved.c.kind, func.sum(moved.c.amount)).group_by(moved.c.b, moved.c.kind)
    ):
        out[day_of(n_bucket)].add(kind, int(amount))
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
