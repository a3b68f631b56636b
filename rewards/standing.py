"""Where a member stands: balance, what is spendable, tier progress and points expiring soon.

What a "balance" answer shows, what ``GET /api/v1/members/<id>`` returns and what staff see,
worked out the same way for all three. The three ledger sums it needs (qualifying points in
the tier window, points still in their return period, points that could expire) come from
one pass over the member's entries, with a statement built once: "balance" is the message
customers send most, and each answer is a webhook's whole transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.orm import Session

from rewards import ledger, tiers
from rewards.models import LedgerEntry, Member
from rewards.program.config import ProgramConfig, TierRule
from rewards.storage.prepared import Prepared


@dataclass(frozen=True, slots=True)
class Standing:
    balance: int
    pending: int  # earned but inside the return period, not yet spendable
    progress: tiers.TierProgress[TierRule]
    expiring_soon: int  # expire within the program's reminder days unless spent (0: expiry off)

    @property
    def spendable(self) -> int:
        return self.balance - self.pending


_ENTRY = LedgerEntry.__table__.c  # plain SQL: no ORM entity in the statement, no ORM work to run it


def _sum_where(condition):  # type: ignore[no-untyped-def]
    return func.coalesce(func.sum(case((condition, _ENTRY.amount), else_=0)), 0)


_FIGURES = Prepared(select(
    _sum_where(tiers.qualifies(bindparam("window_start"))),
    _sum_where(ledger.is_pending(bindparam("now"))),
    ledger.expirable_sum(bindparam("expiry_cutoff")),
).where(_ENTRY.member_id == bindparam("member_id")))


def standing(session: Session, config: ProgramConfig, member: Member, now: datetime) -> Standing:
    return standing_of(session, config, member.id, member.balance, now)


def standing_of(session: Session, config: ProgramConfig, member_id: int, balance: int, now: datetime) -> Standing:
    """``standing`` for a member known by id and cached balance (read without the ORM)."""
    expiry = config.expiry
    # Points earned at or before this instant have expired by ``remind_days_before`` from now.
    cutoff = now + timedelta(days=expiry.remind_days_before) - timedelta(days=expiry.after_days)
    qualifying, pending, expirable = _FIGURES.one(session, {
        "member_id": member_id, "now": now, "expiry_cutoff": cutoff,
        "window_start": now - timedelta(days=config.tier_rules.window_days),
    })
    # The program's tier rules (sorted by threshold already), not its tier rows: loading the
    # program writes the rows from these rules (rewards/program/programs.py sync_program), and they
    # come without a query.
    progress = tiers.progress_at(config.tiers, int(qualifying))
    soon = max(0, int(expirable)) if expiry.after_days > 0 else 0
    return Standing(balance, int(pending), progress, soon)
