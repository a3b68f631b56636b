"""Referrals: who invited whom, and when both sides are rewarded.

A contact who arrives with an invite code (``JOIN <code>``, a Telegram deep link) is
recorded as invited; joining attaches them; the first qualifying purchase (or the join
itself, by the program file) pays both sides once, keyed ``referral:<id>:<side>``.
Refunding that purchase takes both back (``referral-reversal:<id>:<side>``) and the
referral is closed as reversed: it never pays again.
Refused: your own code, anyone already a member, a second referrer, a referrer over
``max_per_month`` joined referrals in the program's calendar month, and a phone number or
address whose member deleted their data (rewards/erased_contacts.py).
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, String, Update, cast, func, literal, or_, select, tuple_, update
from sqlalchemy.orm import Session

from rewards import erased_contacts, ledger
from rewards.codes import normalize
from rewards.events import Event, PointsEarned, ReferralQualified, ReferralReversed
from rewards.models import Identity, LedgerEntry, Member, Purchase, Referral
from rewards.program.config import ProgramConfig

REFUSALS = ("unknown_code", "self_referral", "already_member", "second_referrer", "cap_reached", "returning_member")


@dataclass
class Attribution:
    accepted: bool
    reason: str | None = None  # one of REFUSALS when refused
    referrer: Member | None = None
    events: list[Event] = field(default_factory=list)


def _referrer(session: Session, program_id: int, code: str) -> Member | None:
    return session.scalar(
        select(Member).where(
            Member.program_id == program_id, Member.code == normalize(code), Member.deleted_at.is_(None)
        )
    )


def _month_start(config: ProgramConfig, now: datetime) -> datetime:
    local = now.astimezone(ZoneInfo(config.timezone))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _over_cap(session: Session, config: ProgramConfig, referrer_id: int, now: datetime) -> bool:
    joined = session.scalar(
        select(func.count(Referral.id)).where(
            Referral.referrer_id == referrer_id,
            Referral.referee_id.is_not(None),
            Referral.joined_at >= _month_start(config, now),
        )
    )
    return (joined or 0) >= config.referrals.max_per_month


def record_invite(
    session: Session, config: ProgramConfig, identity: Identity, code: str, now: datetime, phone: str | None = None
) -> Attribution:
    """Remember that this contact came with ``code``; refuse what the rules refuse."""
    referrer = _referrer(session, identity.program_id, code)
    if referrer is None:
        return Attribution(False, "unknown_code")
    existing_member = identity.member
    if existing_member is None and phone:
        existing_member = session.scalar(
            select(Member).where(Member.program_id == identity.program_id, Member.phone == phone, Member.deleted_at.is_(None))
        )
    if existing_member is not None:
        reason = "self_referral" if existing_member.id == referrer.id else "already_member"
        return Attribution(False, reason, referrer)
    if erased_contacts.any_erased(session, identity.program_id,
                                  (phone, erased_contacts.address_key(identity.channel, identity.address))):
        return Attribution(False, "returning_member", referrer)
    previous = session.scalar(
        select(Referral).where(
            Referral.program_id == identity.program_id,
            Referral.channel == identity.channel,
            Referral.address == identity.address,
        )
    )
    if previous is not None:
        if previous.referrer_id != referrer.id:
            return Attribution(False, "second_referrer", session.get(Member, previous.referrer_id))
        return Attribution(True, None, referrer)
    if _over_cap(session, config, referrer.id, now):
        return Attribution(False, "cap_reached", referrer)
    session.add(
        Referral(
            program_id=identity.program_id,
            referrer_id=referrer.id,
            channel=identity.channel,
            address=identity.address,
            status="invited",
            created_at=now,
        )
    )
    session.flush()
    return Attribution(True, None, referrer)


def on_join(session: Session, config: ProgramConfig, identity: Identity, member: Member, now: datetime) -> Attribution | None:
    """Attach the invite this identity came with, if any, to the new member."""
    referral = session.scalar(
        select(Referral).where(
            Referral.program_id == identity.program_id,
            Referral.channel == identity.channel,
            Referral.address == identity.address,
            Referral.status == "invited",
        )
    )
    if referral is None:
        return None
    # The referrer's row locked, so friends joining at once are counted one after another
    # against the monthly cap instead of all seeing the same count.
    referrer = ledger.lock_member(session, referral.referrer_id)
    if referrer.deleted_at is not None:
        return None
    if _over_cap(session, config, referrer.id, now):
        return Attribution(False, "cap_reached", referrer)
    referral.referee_id = member.id
    referral.status = "joined"
    referral.joined_at = now
    session.flush()
    result = Attribution(True, None, referrer)
    if config.referrals.qualify_on == "join":
        result.events = _qualify(session, config, referral, now)
    return result


def on_purchase(
    session: Session, config: ProgramConfig, member: Member, purchase: Purchase, amount: Decimal, now: datetime,
) -> list[Event]:
    """Pay both sides if this is the referee's first qualifying purchase."""
    if config.referrals.qualify_on != "first_purchase" or amount < config.referrals.min_purchase:
        return []
    referral = session.scalar(
        select(Referral).where(
            Referral.program_id == member.program_id, Referral.referee_id == member.id, Referral.status == "joined"
        )
    )
    if referral is None:
        return []
    referral.purchase_id = purchase.id
    return _qualify(session, config, referral, now)


def on_refund(session: Session, purchase: Purchase, now: datetime) -> list[Event]:
    """The purchase that qualified a referral was refunded: take back both bonuses (the
    balance may go below zero, as with any refund) and close the referral for good, so a
    buy-and-refund pays nobody. A side that deleted their data forfeited its points already."""
    referral = session.scalar(
        select(Referral).where(Referral.purchase_id == purchase.id, Referral.status == "qualified")
    )
    if referral is None:
        return []
    events: list[Event] = []
    for side, member_id in (("referrer", referral.referrer_id), ("referee", referral.referee_id)):
        bonus = session.scalar(select(LedgerEntry).where(
            LedgerEntry.program_id == referral.program_id,
            LedgerEntry.idempotency_key == f"referral:{referral.id}:{side}",
        ))
        member = session.get(Member, member_id) if member_id is not None else None
        if bonus is None or member is None or member.deleted_at is not None:
            continue
        entry = ledger.post(
            session, member, -bonus.amount, "reversal", f"referral-reversal:{referral.id}:{side}",
            f"referral bonus ({side}) taken back: the qualifying purchase was refunded", now,
            lot_at=bonus.lot_at, referral_id=referral.id,
        )
        if entry is not None:
            events.append(ReferralReversed(member.id, bonus.amount, member.balance, side == "referee"))
    referral.status = "reversed"
    referral.reversed_at = now
    return events


# An erased address: unique per row, as the (program, channel, address) key needs. Rows
# erased before "erased:" existed say "deleted:".
ERASED_PREFIXES = ("erased:", "deleted:")


def _erase_addresses(condition: ColumnElement[bool]) -> Update:
    return (
        update(Referral)
        .where(condition)
        .values(address=literal(ERASED_PREFIXES[0], String) + cast(Referral.id, String))
        .execution_options(synchronize_session=False)
    )


def forget(session: Session, member: Member, addresses: Collection[tuple[str, str]]) -> None:
    """A member deleted their data: the referrals that name their addresses (as the friend
    who joined, or an invite they came with on another channel) keep none, and neither do
    the invites they sent that nobody took (a deleted member's invite never pays)."""
    condition = or_(Referral.referee_id == member.id,
                    (Referral.referrer_id == member.id) & (Referral.status == "invited"))
    if addresses:
        condition = or_(condition, tuple_(Referral.channel, Referral.address).in_(sorted(addresses)))
    session.execute(_erase_addresses((Referral.program_id == member.program_id) & condition))


def forget_stale_invites(session: Session, program_id: int, before: datetime, limit: int) -> int:
    """Erase the address of at most ``limit`` invites recorded before ``before`` whose
    friend never joined; the rows stay for the referrer's counts. Returns how many."""
    stale = (
        select(Referral.id)
        .where(Referral.program_id == program_id, Referral.status == "invited", Referral.created_at < before,
               *(~Referral.address.startswith(prefix) for prefix in ERASED_PREFIXES))
        .limit(limit)
    )
    return int(session.execute(_erase_addresses(Referral.id.in_(stale.scalar_subquery()))).rowcount or 0)


def _qualify(session: Session, config: ProgramConfig, referral: Referral, now: datetime) -> list[Event]:
    referral.status = "qualified"
    referral.qualified_at = now
    events: list[Event] = []
    sides = ((referral.referrer_id, config.referrals.referrer_points, "referrer"),
             (referral.referee_id, config.referrals.referee_points, "referee"))
    for member_id, points, side in sides:
        if not points or member_id is None:
            continue
        member = session.get(Member, member_id)
        if member is None or member.deleted_at is not None:
            continue
        entry = ledger.post(
            session, member, points, "referral", f"referral:{referral.id}:{side}",
            f"referral bonus ({side})", now, referral_id=referral.id,
        )
        if entry is not None:
            events.append(ReferralQualified(member.id, points, side == "referee"))
            events.append(PointsEarned(member.id, points, member.balance, "referral"))
    return events


@dataclass(frozen=True)
class ReferralStats:
    invited: int
    joined: int
    qualified: int
    points: int


def stats(session: Session, member: Member) -> ReferralStats:
    counts = dict(
        session.execute(
            select(Referral.status, func.count(Referral.id)).where(Referral.referrer_id == member.id).group_by(Referral.status)
        ).all()
    )
    points = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0))
        .join(Referral, Referral.id == LedgerEntry.referral_id)
        .where(LedgerEntry.member_id == member.id, Referral.referrer_id == member.id)
    ) or 0
    qualified = counts.get("qualified", 0)
    joined = counts.get("joined", 0) + qualified + counts.get("reversed", 0)  # a reversed friend did join
    return ReferralStats(joined + counts.get("invited", 0), joined, qualified, int(points))
