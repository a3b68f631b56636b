"""The points ledger: the one place points move.

Entries are append-only integers with an idempotency key taken from their cause
(``purchase:<receipt>``, ``code:<id>``, ``referral:<id>:referrer``...). The member's cached
balance changes in the same transaction, with the member row locked first, so concurrent
debits queue instead of overspending. ``audit`` proves cached balances equal ledger sums.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, func, or_, select, update
from sqlalchemy.orm import Session

from rewards.errors import InsufficientPoints, InvalidInput
from rewards.models import LEDGER_KINDS, Code, LedgerEntry, Member, Purchase
from rewards.program.config import MAX_POINTS
from rewards.storage.db import one_of

# Entries that take what a member holds (expired points, a deletion's forfeit) may carry a
# whole balance: bounded by the 64-bit columns, not by MAX_POINTS.
_WHOLE_BALANCE_KINDS = ("expire", "forfeit")


def check_points(points: int, what: str) -> int:
    """``points`` if one entry may carry them (at most MAX_POINTS either way); else an
    InvalidInput naming ``what`` ("an adjustment") and the limit."""
    if abs(points) > MAX_POINTS:
        raise InvalidInput(f"{what}: {points:,} points is over the limit of {MAX_POINTS:,} points per entry",
                           reason="too_many_points")
    return points


def lock_member(session: Session, member_id: int) -> Member:
    """Load a member with its row locked (PostgreSQL FOR NO KEY UPDATE; SQLite holds the
    DB lock). Lock order: a transaction takes the member's row before it writes rows of
    other members (only the row of the identity a message came from may come first)."""
    # NO KEY UPDATE, not UPDATE: it queues balance changes just as well, but does not wait
    # for the KEY SHARE lock a foreign-key check takes on the member (a row referencing it
    # was written earlier in a transaction: an identity updated twice, an outbox row). With
    # FOR UPDATE two such transactions, say the same member answering "yes" on SMS and on
    # WhatsApp at once, each held KEY SHARE and waited for the other's: a deadlock.
    # OF members: the eagerly joined tier sits on the nullable side of an outer join, which
    # PostgreSQL refuses to lock ("FOR UPDATE cannot be applied to ...").
    member = session.get(Member, member_id, with_for_update={"of": Member, "key_share": True}, populate_existing=True)
    if member is None:
        raise InvalidInput(f"no member with id {member_id}")
    return member


def entry_exists(session: Session, program_id: int, key: str) -> bool:
    return session.scalar(
        select(LedgerEntry.id).where(LedgerEntry.program_id == program_id, LedgerEntry.idempotency_key == key)
    ) is not None


def is_pending(now: Any):  # type: ignore[no-untyped-def]
    """The SQL condition for an entry still inside its return period at ``now`` (an instant
    or a bind parameter): earned, not yet spendable."""
    return LedgerEntry.__table__.c.available_at > now


_PENDING = select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
    LedgerEntry.member_id == bindparam("member_id"), is_pending(bindparam("now")))


def pending_points(session: Session, member_id: int, now: datetime) -> int:
    """Points earned but still inside their return window (not yet spendable)."""
    return int(session.scalar(_PENDING, {"member_id": member_id, "now": now}) or 0)


def spendable(session: Session, member: Member, now: datetime) -> int:
    return member.balance - pending_points(session, member.id, now)


def post(
    session: Session,
    member: Member,
    amount: int,
    kind: str,
    key: str,
    reason: str,
    now: datetime,
    *,
    lot_at: datetime | None = None,
    available_at: datetime | None = None,
    purchase_id: int | None = None,
    code_id: int | None = None,
    referral_id: int | None = None,
    actor: str | None = None,
    require_spendable: bool = False,
) -> LedgerEntry | None:
    """Append one entry and move the cached balance. Returns None if ``key`` was already posted.

    ``require_spendable`` makes a debit refuse to take the spendable balance below zero;
    only reversals and expiries may go without it.
    """
    if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0:
        raise InvalidInput(f"ledger amounts are non-zero integers, got {amount!r}")
    if kind not in LEDGER_KINDS:
        raise InvalidInput(f"unknown ledger kind {kind!r}")
    if kind not in _WHOLE_BALANCE_KINDS:
        check_points(amount, "an adjustment" if kind == "adjust" else f"a {kind} entry")
    member = lock_member(session, member.id)
    if entry_exists(session, member.program_id, key):
        return None
    if require_spendable and amount < 0:
        available = spendable(session, member, now)
        if available < -amount:
            raise InsufficientPoints(
                f"needs {-amount} points, {available} spendable", needed=-amount, available=available
            )
    entry = LedgerEntry(
        program_id=member.program_id,
        member_id=member.id,
        amount=amount,
        kind=kind,
        reason=reason,
        idempotency_key=key,
        created_at=now,
        lot_at=lot_at or now,
        available_at=available_at,
        purchase_id=purchase_id,
        code_id=code_id,
        referral_id=referral_id,
        actor=actor,
    )
    session.add(entry)
    session.flush()
    condition = Member.id == member.id
    if require_spendable and amount < 0:
        condition = and_(condition, Member.balance >= -amount)  # the database's word, not ours
    result = session.execute(
        update(Member).where(condition).values(balance=Member.balance + amount).execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise InsufficientPoints(f"needs {-amount} points", needed=-amount, available=member.balance)
    session.refresh(member, ["balance"])
    return entry


def history(session: Session, member_id: int, limit: int = 10, offset: int = 0) -> list[LedgerEntry]:
    """A member's entries, newest first: ``limit`` of them from ``offset`` (a page)."""
    return list(
        session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.member_id == member_id)
            .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
            .limit(limit)
            .offset(max(0, offset))
        )
    )


# --- expiry -------------------------------------------------------------------------
# Debits consume the oldest points first, so what may expire at ``cutoff`` is what was
# earned at or before it (net of reversals of those lots) less everything ever consumed.

_CONSUMING = ("redeem", "expire", "forfeit", "code_return")


def expirable_sum(cutoff: Any):  # type: ignore[no-untyped-def]
    """The SQL sum of what may expire at ``cutoff`` (an instant or a bind parameter), over
    the entries a query selects. Written on the table's columns, so a statement made only
    of these runs as plain SQL, without the ORM's per-query work."""
    entry = LedgerEntry.__table__.c
    old_credit = case(
        (
            and_(
                entry.lot_at <= cutoff,
                or_(
                    ~one_of(entry.kind, _CONSUMING + ("adjust",)),
                    and_(entry.kind == "adjust", entry.amount > 0),
                ),
            ),
            entry.amount,
        ),
        else_=0,
    )
    consumed = case(
        (
            or_(one_of(entry.kind, _CONSUMING), and_(entry.kind == "adjust", entry.amount < 0)),
            -entry.amount,
        ),
        else_=0,
    )
    return func.coalesce(func.sum(old_credit), 0) - func.coalesce(func.sum(consumed), 0)


_EXPIRABLE = select(expirable_sum(bindparam("cutoff"))).where(LedgerEntry.member_id == bindparam("member_id"))


def expirable(session: Session, member_id: int, cutoff: datetime) -> int:
    """Points earned at or before ``cutoff`` that have not been spent, expired or reversed."""
    value = session.scalar(_EXPIRABLE, {"member_id": member_id, "cutoff": cutoff}) or 0
    return max(0, int(value))


@dataclass(frozen=True)
class Expired:
    member_id: int
    points: int


def expire_points(session: Session, program_id: int, after_days: int, now: datetime) -> list[Expired]:
    """Expire, oldest first, points earned more than ``after_days`` ago. Safe to run twice."""
    if after_days <= 0:
        return []
    cutoff = now - timedelta(days=after_days)
    expired = (expire_member(session, member_id, cutoff, now) for member_id in expirable_members(session, program_id, cutoff))
    return [e for e in expired if e is not None]


def expirable_members(session: Session, program_id: int, cutoff: datetime, after_member_id: int = 0,
                      limit: int | None = None) -> list[int]:
    """Ids of members with points earned at or before ``cutoff`` still unspent, in id order
    from ``after_member_id`` (the clock reads them a chunk at a time)."""
    due = expirable_sum(cutoff)
    return list(session.scalars(
        select(LedgerEntry.member_id)
        .where(LedgerEntry.program_id == program_id, LedgerEntry.member_id > after_member_id)
        .group_by(LedgerEntry.member_id)
        .having(due > 0)
        .order_by(LedgerEntry.member_id)
        .limit(limit)
    ))


def expire_member(session: Session, member_id: int, cutoff: datetime, now: datetime) -> Expired | None:
    """Expire one member's points earned at or before ``cutoff``. The amount is worked out
    under the member's lock, so two runs at once expire it once."""
    member = lock_member(session, member_id)
    points = min(expirable(session, member_id, cutoff), member.balance)
    if points <= 0:
        return None
    key = f"expire:{member_id}:{cutoff:%Y%m%dT%H%M%S}"
    if post(session, member, -points, "expire", key, f"points earned before {cutoff:%Y-%m-%d} expired", now):
        return Expired(member_id, points)
    return None


def oldest_open_lot(session: Session, member_id: int, cutoff: datetime) -> datetime | None:
    """When the oldest points not yet spent, expired or reversed were earned, if at or
    before ``cutoff``: debits take the oldest lots first, so walk the lots in order."""
    consumed = -int(session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.member_id == member_id,
            or_(LedgerEntry.kind.in_(_CONSUMING), and_(LedgerEntry.kind == "adjust", LedgerEntry.amount < 0)),
        )
    ) or 0)
    lots = session.execute(
        select(LedgerEntry.lot_at, func.sum(LedgerEntry.amount))
        .where(
            LedgerEntry.member_id == member_id, LedgerEntry.lot_at <= cutoff,
            or_(LedgerEntry.kind.not_in(_CONSUMING + ("adjust",)), and_(LedgerEntry.kind == "adjust", LedgerEntry.amount > 0)),
        )
        .group_by(LedgerEntry.lot_at)
        .order_by(LedgerEntry.lot_at)
    )
    for lot_at, amount in lots:
        if int(amount) > consumed:
            return lot_at  # type: ignore[no-any-return]
        consumed -= int(amount)
    return None


# --- audit --------------------------------------------------------------------------


@dataclass
class AuditReport:
    members_checked: int = 0
    mismatches: list[tuple[int, int, int]] = field(default_factory=list)  # member, cached, ledger
    totals: dict[str, int] = field(default_factory=dict)  # by kind
    cached_total: int = 0
    ledger_total: int = 0
    problems: list[str] = field(default_factory=list)  # causes whose entries do not add up

    @property
    def earned(self) -> int:
        not_earned = ("redeem", "code_return", "expire", "reversal", "forfeit", "adjust")
        return sum(v for k, v in self.totals.items() if k not in not_earned)

    @property
    def adjusted(self) -> int:
        return self.totals.get("adjust", 0)

    @property
    def spent(self) -> int:
        return -(self.totals.get("redeem", 0) + self.totals.get("code_return", 0))

    @property
    def expired(self) -> int:
        return -(self.totals.get("expire", 0) + self.totals.get("forfeit", 0))

    @property
    def reversed(self) -> int:
        return -self.totals.get("reversal", 0)

    @property
    def ok(self) -> bool:
        identity = self.ledger_total == self.earned + self.adjusted - self.spent - self.expired - self.reversed
        return not self.mismatches and not self.problems and self.cached_total == self.ledger_total and identity

    def lines(self) -> list[str]:
        out = [
            f"members checked: {self.members_checked}",
            f"earned {self.earned}, adjusted {self.adjusted:+d}, spent {self.spent}, "
            f"expired {self.expired}, reversed {self.reversed}",
            f"ledger total {self.ledger_total}, cached balances total {self.cached_total}",
        ]
        out += [f"member {m}: cached balance {c} but ledger sum {s}" for m, c, s in self.mismatches]
        out += self.problems
        out.append("audit OK" if self.ok else "AUDIT FAILED")
        return out


def audit(session: Session, program_id: int | None = None) -> AuditReport:
    """Prove cached balances == ledger sums, and ledger == earned - spent - expired - reversed."""
    sums = (
        select(LedgerEntry.member_id, func.sum(LedgerEntry.amount).label("total"))
        .group_by(LedgerEntry.member_id)
        .subquery()
    )
    members = select(Member.id, Member.balance, func.coalesce(sums.c.total, 0)).outerjoin(
        sums, sums.c.member_id == Member.id
    )
    by_kind = select(LedgerEntry.kind, func.sum(LedgerEntry.amount)).group_by(LedgerEntry.kind)
    if program_id is not None:
        members = members.where(Member.program_id == program_id)
        by_kind = by_kind.where(LedgerEntry.program_id == program_id)
    report = AuditReport()
    for member_id, cached, total in session.execute(members):
        report.members_checked += 1
        report.cached_total += cached
        report.ledger_total += int(total)
        if cached != total:
            report.mismatches.append((member_id, cached, int(total)))
    report.totals = {kind: int(total) for kind, total in session.execute(by_kind)}
    report.problems = _cause_problems(session, program_id)
    return report


def _cause_problems(session: Session, program_id: int | None) -> list[str]:
    """Each purchase and code against its own entries: a purchase holds its points until
    refunded, then nets to zero; a code took its cost once and gave it back only if it expired
    or staff cancelled it."""
    purchase_sum = func.coalesce(func.sum(LedgerEntry.amount), 0)
    purchases = (
        select(Purchase.receipt_id, Purchase.points, Purchase.refunded_at, purchase_sum)
        .outerjoin(LedgerEntry, LedgerEntry.purchase_id == Purchase.id)
        .group_by(Purchase.id)
        .having(purchase_sum != case((Purchase.refunded_at.is_(None), Purchase.points), else_=0))
    )
    taken = func.coalesce(func.sum(case((LedgerEntry.kind == "redeem", -LedgerEntry.amount), else_=0)), 0)
    returned = func.coalesce(func.sum(case((LedgerEntry.kind == "code_return", LedgerEntry.amount), else_=0)), 0)
    codes = (
        select(Code.id, Code.status, Code.cost, taken, returned)
        .outerjoin(LedgerEntry, LedgerEntry.code_id == Code.id)
        .group_by(Code.id)
        .having(or_(
            taken != Code.cost,
            and_(Code.status == "expired", returned != Code.cost),
            # staff cancelled it (its cost back) or the member deleted their data (nothing back)
            and_(Code.status == "cancelled", returned != 0, returned != Code.cost),
            and_(Code.status.not_in(("expired", "cancelled")), returned != 0),
        ))
    )
    if program_id is not None:
        purchases = purchases.where(Purchase.program_id == program_id)
        codes = codes.where(Code.program_id == program_id)
    problems = [
        f"purchase {receipt}: entries sum to {total}, expected {0 if refunded else points}"
        for receipt, points, refunded, total in session.execute(purchases)
    ]
    problems += [
        f"code {code_id} ({status}): {took} points taken and {back} returned for a cost of {cost}"
        for code_id, status, cost, took, back in session.execute(codes)
    ]
    return problems
