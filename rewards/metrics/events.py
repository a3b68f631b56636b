"""The figures read from the events themselves (members joining, purchases, the ledger,
codes, survey answers, member days): what the clock's summaries hold
(rewards/metrics/summaries.py), and what the figures read live: what happened since a
summary was made, a day the clock has not summed up yet, a window it does not keep.

Additive figures come a local day at a time (``day_totals``: grouped in SQL by bucket, see
``periods.Buckets``). The figures that count members rather than events (purchasers,
repeat purchasers, retention, active members, referrers) come a window at a time
(``window_counts``), or member by member for the few members whose standing a summary
did not see yet (``member_shares``).

``kept_at``: a purchase counts unless it was refunded; given an instant, unless it was
refunded before that instant (what a summary made then saw). None: refunded at all.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, and_, any_, bindparam, case, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from rewards.metrics.periods import Buckets, Period
from rewards.models import Code, LedgerEntry, Member, MemberDay, Purchase, Referral, Survey

EARNED_KINDS = ("purchase", "visit", "join", "birthday", "referral", "survey", "bonus")
# ledger kind -> the accounting column it adds to (its amount's sign as it is)
COLUMNS = {**dict.fromkeys(EARNED_KINDS, "earned"), "redeem": "redeemed", "code_return": "returned",
           "reversal": "refunded", "expire": "expired", "forfeit": "expired", "adjust": "adjusted"}
POINT_COLUMNS = ("earned", "redeemed", "returned", "refunded", "expired", "adjusted")
CHUNK = 5_000  # members a query names at once


def kept(kept_at: datetime | None) -> Any:
    """The purchases that count: not refunded (by ``kept_at``, when given)."""
    if kept_at is None:
        return Purchase.refunded_at.is_(None)
    return or_(Purchase.refunded_at.is_(None), Purchase.refunded_at >= kept_at)


def within(column: Any, period: Period) -> Any:
    return and_(column >= period.begins, column < period.ends)


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

    def add_points(self, other: Points) -> None:
        for column in POINT_COLUMNS:
            setattr(self, column, getattr(self, column) + getattr(other, column))

    @property
    def net(self) -> int:
        """What the movements did to the points held."""
        return self.earned - self.refunded - self.redeemed + self.returned - self.expired + self.adjusted


@dataclass
class DayTotals:
    """One local day's additive figures (``add``: of two parts of the day)."""

    day: date
    new_members: int = 0
    deleted_members: int = 0
    referred: int = 0  # new members who came with an invitation
    purchases: int = 0
    sales_minor: int = 0
    points: Points = field(default_factory=Points)
    nps_responses: int = 0
    nps_promoters: int = 0
    nps_detractors: int = 0
    rewards: dict[int, list[int]] = field(default_factory=dict)  # reward id -> [codes issued, points]

    def add(self, other: DayTotals) -> None:
        for name in ("new_members", "deleted_members", "referred", "purchases", "sales_minor", "nps_responses",
                     "nps_promoters", "nps_detractors"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.points.add_points(other.points)
        for reward_id, (n, points) in other.rewards.items():
            counted = self.rewards.setdefault(reward_id, [0, 0])
            counted[0] += n
            counted[1] += points


def day_totals(session: Session, program_id: int, span: Period, kept_at: datetime | None = None,
               since: datetime | None = None, before: datetime | None = None) -> dict[date, DayTotals]:
    """Every local day of ``span``, read from the events: one grouped read a table. Only
    what happened from ``since`` and before ``before``, when given."""
    days = {d: DayTotals(d) for d in span.dates()}
    buckets = Buckets(span, session.get_bind().dialect.name)
    day_of = buckets.day_of
    begins, ends = max(span.begins, since or span.begins), min(span.ends, before or span.ends)

    def narrowed(column: Any) -> Any:  # in the span, from ``since``, before ``before``
        return and_(column >= begins, column < ends)

    def grouped(column: Any, *rest: Any, where: Any) -> Iterable[Any]:
        rows = select(buckets.of(column).label("b"), *rest).where(where).subquery()
        extra = [rows.c[c.key] for c in rest]
        return session.execute(select(rows.c.b, *extra, func.count()).group_by(rows.c.b, *extra))

    for b, n in grouped(Member.joined_at, where=and_(Member.program_id == program_id, narrowed(Member.joined_at))):
        days[day_of[b]].new_members += n
    for b, n in grouped(Member.deleted_at, where=and_(Member.program_id == program_id, narrowed(Member.deleted_at))):
        days[day_of[b]].deleted_members += n
    for b, n in grouped(Referral.joined_at, where=and_(Referral.program_id == program_id, Referral.referee_id.is_not(None),
                                                       narrowed(Referral.joined_at))):
        days[day_of[b]].referred += n
    for b, score, n in grouped(Survey.answered_at, Survey.score,
                               where=and_(Survey.program_id == program_id, narrowed(Survey.answered_at))):
        day = days[day_of[b]]
        day.nps_responses += n
        day.nps_promoters += n if score >= 9 else 0
        day.nps_detractors += n if score <= 6 else 0
    bought = select(buckets.of(Purchase.created_at).label("b"), Purchase.amount_minor).where(
        Purchase.program_id == program_id, narrowed(Purchase.created_at), kept(kept_at)).subquery()
    for b, n, sales in session.execute(
        select(bought.c.b, func.count(), func.sum(bought.c.amount_minor)).group_by(bought.c.b)
    ):
        day = days[day_of[b]]
        day.purchases += n
        day.sales_minor += int(sales)
    moved = select(buckets.of(LedgerEntry.created_at).label("b"), LedgerEntry.kind, LedgerEntry.amount).where(
        LedgerEntry.program_id == program_id, narrowed(LedgerEntry.created_at)).subquery()
    for b, kind, amount in session.execute(
        select(moved.c.b, moved.c.kind, func.sum(moved.c.amount)).group_by(moved.c.b, moved.c.kind)
    ):
        days[day_of[b]].points.add(kind, int(amount))
    issued = select(buckets.of(Code.issued_at).label("b"), Code.reward_id, Code.cost).where(
        Code.program_id == program_id, narrowed(Code.issued_at), Code.cost > 0).subquery()
    for b, reward_id, n, cost in session.execute(
        select(issued.c.b, issued.c.reward_id, func.count(), func.sum(issued.c.cost)).group_by(issued.c.b, issued.c.reward_id)
    ):
        counted = days[day_of[b]].rewards.setdefault(reward_id, [0, 0])
        counted[0] += n
        counted[1] += int(cost)
    return days


def held_between(session: Session, program_id: int, begins: datetime | None, ends: datetime) -> tuple[int, int]:
    """(members joined less members deleted, points posted) from ``begins`` (None: ever) to ``ends``."""
    def since(column: Any) -> Any:
        return column < ends if begins is None else and_(column >= begins, column < ends)

    joined = session.scalar(select(func.count()).where(Member.program_id == program_id, since(Member.joined_at))) or 0
    left = session.scalar(select(func.count()).where(Member.program_id == program_id, since(Member.deleted_at))) or 0
    points = session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.program_id == program_id, since(LedgerEntry.created_at))) or 0
    return joined - left, int(points)


def wrote_before(instant: datetime, zone: ZoneInfo) -> Any:
    """The member days of what was written before ``instant``: the days before its own
    day, and of its day those that began before it (a day written before first_at was kept
    counts as after: the reader looks it up again)."""
    return or_(MemberDay.day < instant.astimezone(zone).date(), MemberDay.first_at < instant)


@dataclass
class WindowCounts:
    """What counts members in a window: see ``shares`` for each one's share."""

    purchasers: int = 0
    repeat_purchasers: int = 0
    previous_purchasers: int = 0  # in the window of the same length before
    retained: int = 0  # of those, the ones who purchased in this window too
    active: int = 0
    referrers: int = 0  # active members whose invited friend joined in the window

    FIELDS = ("purchasers", "repeat_purchasers", "previous_purchasers", "retained", "active", "referrers")

    def shift(self, shares: tuple[int, ...], sign: int) -> None:
        for name, share in zip(self.FIELDS, shares, strict=True):
            setattr(self, name, getattr(self, name) + sign * share)


def window_counts(session: Session, program_id: int, window: Period, previous: Period | None = None,
                  kept_at: datetime | None = None, before: datetime | None = None) -> WindowCounts:
    """Read from the events: each member's purchases in the window and the ``previous``
    days (by default, as many days just before), grouped in SQL; the members with a reward
    code or a message day in the window; the referrers. ``before``: only what happened
    before that instant (a summary made during the window's last day)."""
    previous = previous or window.previous()
    ends = window.ends if before is None else min(window.ends, before)
    p = case((Purchase.created_at < window.begins, 0), else_=1)
    rows = select(Purchase.member_id, p.label("p")).where(
        Purchase.program_id == program_id, Purchase.created_at >= previous.begins, Purchase.created_at < ends,
        kept(kept_at)).subquery()
    buyers: tuple[set[int], set[int]] = (set(), set())
    out = WindowCounts()
    for member_id, period, n in session.execute(
        select(rows.c.member_id, rows.c.p, func.count()).group_by(rows.c.member_id, rows.c.p)
    ):
        buyers[period].add(member_id)
        if period:
            out.repeat_purchasers += n >= 2
    out.purchasers, out.previous_purchasers = len(buyers[1]), len(buyers[0])
    out.retained = len(buyers[0] & buyers[1])
    active = set(buyers[1])
    active.update(session.scalars(select(Code.member_id).where(
        Code.program_id == program_id, Code.issued_at >= window.begins, Code.issued_at < ends, Code.cost > 0)))
    active.update(session.scalars(select(MemberDay.member_id).distinct().where(
        MemberDay.program_id == program_id, MemberDay.day >= window.start, MemberDay.day <= window.end,
        *(() if before is None else (wrote_before(before, window.zone),)))))
    out.active = len(active)
    referrers = session.scalars(select(Referral.referrer_id).distinct().where(
        Referral.program_id == program_id, Referral.referee_id.is_not(None), Referral.joined_at >= window.begins,
        Referral.joined_at < ends))
    out.referrers = sum(1 for r in referrers if r in active)
    return out


def shares(before: int, now: int, coded: int, wrote: int, invited: int) -> tuple[int, ...]:
    """One member's share of each ``WindowCounts`` figure (0 or 1), from their purchases
    in the window before and in this one, and whether they took a reward, wrote to us or
    had a friend join in it."""
    active = now > 0 or coded > 0 or wrote > 0
    return (int(now >= 1), int(now >= 2), int(before >= 1), int(before >= 1 and now >= 1), int(active),
            int(active and invited > 0))


def one_of_ids(session: Session, column: Any, ids: list[int]) -> Any:
    """``column`` is one of ``ids``, with one bound value however many (an expanded IN list
    costs SQLAlchemy time that grows faster than the list): an array on PostgreSQL, a JSON
    array read by ``json_each`` on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, ids, type_=ARRAY(Integer)))
    return column.in_(select(func.json_each(json.dumps(ids)).table_valued("value").c.value))


def member_shares(session: Session, program_id: int, members: Iterable[int], window: Period, through: datetime,
                  cutoff: datetime) -> tuple[list[int], list[int]]:
    """The ``shares`` of ``window`` of all ``members`` added up: as a summary of what
    happened before ``through``, made at ``cutoff``, counted them, and as they are now.
    Counted in SQL, a grouped read a table, a chunk of members at a time (through the
    connection: rows of numbers need nothing of the ORM)."""
    then_total, now_total = [0] * 6, [0] * 6
    conn = session.connection()
    begins, ends = window.begins, window.ends
    kept_now = Purchase.refunded_at.is_(None)
    kept_then = or_(Purchase.refunded_at.is_(None), Purchase.refunded_at >= cutoff)

    def n(*conditions: Any) -> Any:
        return func.sum(case((and_(*conditions), 1), else_=0))

    ids = sorted(set(members))
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i:i + CHUNK]
        state: dict[int, list[int]] = defaultdict(lambda: [0] * 10)  # (before, now, coded, wrote, invited) then, now
        for member_id, *counted in conn.execute(select(
            Purchase.member_id,
            n(Purchase.created_at < begins, kept_then), n(Purchase.created_at >= begins, Purchase.created_at < through,
                                                          kept_then),
            n(Purchase.created_at < begins, kept_now), n(Purchase.created_at >= begins, kept_now),
        ).where(one_of_ids(session, Purchase.member_id, chunk), Purchase.created_at >= window.previous().begins,
                Purchase.created_at < ends).group_by(Purchase.member_id)):
            row = state[member_id]
            row[0], row[1], row[5], row[6] = (int(c or 0) for c in counted)
        for member_id, then, now in conn.execute(select(Code.member_id, n(Code.issued_at < through), func.count())
                                                 .where(one_of_ids(session, Code.member_id, chunk),
                                                        within(Code.issued_at, window), Code.cost > 0)
                                                 .group_by(Code.member_id)):
            state[member_id][2], state[member_id][7] = int(then or 0), now
        for member_id, then, now in conn.execute(select(MemberDay.member_id, n(wrote_before(through, window.zone)),
                                                        func.count())
                                                 .where(one_of_ids(session, MemberDay.member_id, chunk),
                                                        MemberDay.day >= window.start, MemberDay.day <= window.end)
                                                 .group_by(MemberDay.member_id)):
            state[member_id][3], state[member_id][8] = int(then or 0), now
        for member_id, then, now in conn.execute(select(Referral.referrer_id, n(Referral.joined_at < through),
                                                        func.count())
                                                 .where(one_of_ids(session, Referral.referrer_id, chunk),
                                                        Referral.referee_id.is_not(None),
                                                        within(Referral.joined_at, window))
                                                 .group_by(Referral.referrer_id)):
            state[member_id][4], state[member_id][9] = int(then or 0), now
        for row in state.values():
            for total, share in ((then_total, shares(*row[:5])), (now_total, shares(*row[5:]))):
                for k, v in enumerate(share):
                    total[k] += v
    return then_total, now_total


def members_since(session: Session, program_id: int, since: datetime, window: Period) -> set[int]:
    """Every member whose standing in ``window`` can have changed since ``since``: who
    purchased, took a reward, wrote (or wrote on a day whose first message time is not
    known), or whose friend joined."""
    found: set[int] = set()
    found.update(session.scalars(select(Purchase.member_id).where(
        Purchase.program_id == program_id, Purchase.created_at >= since, Purchase.created_at < window.ends)))
    found.update(session.scalars(select(Code.member_id).where(
        Code.program_id == program_id, Code.issued_at >= since, Code.issued_at < window.ends, Code.cost > 0)))
    found.update(session.scalars(select(MemberDay.member_id).where(
        MemberDay.program_id == program_id, MemberDay.day >= since.astimezone(window.zone).date(),
        MemberDay.day <= window.end, ~wrote_before(since, window.zone) | MemberDay.first_at.is_(None))))
    found.update(session.scalars(select(Referral.referrer_id).where(
        Referral.program_id == program_id, Referral.referee_id.is_not(None), Referral.joined_at >= since,
        Referral.joined_at < window.ends)))
    return found


def refunded_since(session: Session, program_id: int, since: datetime, made_from: datetime,
                   made_before: datetime) -> list[tuple[int, datetime, datetime, int]]:
    """Purchases made in [made_from, made_before) and refunded at or after ``since``:
    (member, when made, when refunded, amount). Read by the refunds' time index alone (a
    handful since the last summary), the time made compared here."""
    return [row for row in session.execute(select(
        Purchase.member_id, Purchase.created_at, Purchase.refunded_at, Purchase.amount_minor,
    ).where(Purchase.program_id == program_id, Purchase.refunded_at >= since))
        if made_from <= row[1] < made_before]
