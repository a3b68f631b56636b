"""Earning: purchases (idempotent on receipt), refunds that reverse them, and bonuses.

Points for a purchase = amount x points_per_unit x tier multiplier x an active campaign
multiplier (rewards/promotions/offers.py), rounded once by the program's rule, plus the flat per-visit
points. With ``pending_days`` they become spendable only after the return window, so a
refund inside it takes back points that were never spendable.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from babel.numbers import get_currency_precision
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rewards import ledger, referrals, tiers
from rewards.errors import AlreadyDone, InvalidInput, NotFound, Refused
from rewards.events import Event, PointsEarned, PointsReversed
from rewards.models import LedgerEntry, Member, Program, Purchase
from rewards.program.config import ProgramConfig
from rewards.promotions import offers

MAX_AMOUNT = Decimal("1000000")
_ROUNDING = {"down": ROUND_FLOOR, "up": ROUND_CEILING, "nearest": ROUND_HALF_UP}


_AMOUNT = re.compile(r"[0-9]{1,12}(\.[0-9]{1,12})?")  # ASCII only: \d and Decimal() take "١٢" and "１２"


def parse_amount(text: str | Decimal | int, currency: str) -> Decimal:
    """A positive amount with no more decimals than the currency has (12.50 USD, 1200 JPY).
    Trailing zeros are fine ("12.500"); exponents, thousands separators and digits other
    than 0-9 (Arabic-Indic, full-width) are not."""
    raw = str(text).strip()
    if not _AMOUNT.fullmatch(raw):
        raise InvalidInput(f'"{text}" is not an amount: write it like 12.50 (digits 0-9)', reason="bad_amount")
    amount = Decimal(raw)
    if amount <= 0:
        raise InvalidInput(f'the amount must be more than zero, got "{text}"', reason="bad_amount")
    if amount > MAX_AMOUNT:
        raise InvalidInput(f"the amount {text} is over the limit of {MAX_AMOUNT}", reason="bad_amount")
    places = get_currency_precision(currency)
    if amount != amount.quantize(Decimal(1).scaleb(-places)):
        raise InvalidInput(f"{currency} amounts have at most {places} decimals, got {text}", reason="bad_amount")
    return amount


def to_minor(amount: Decimal, currency: str) -> int:
    return int(amount.scaleb(get_currency_precision(currency)))


def from_minor(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-get_currency_precision(currency))


def purchase_points(config: ProgramConfig, amount: Decimal, multiplier_permille: int, offer_permille: int = 1000) -> int:
    """Tier and campaign multipliers multiply; the product is rounded once, by the program's rule."""
    raw = amount * config.earning.points_per_unit * Decimal(multiplier_permille) * Decimal(offer_permille) / 1_000_000
    return int(raw.quantize(Decimal(1), rounding=_ROUNDING[config.earning.rounding]))


def check_receipt(receipt_id: str) -> str:
    receipt_id = receipt_id.strip()
    if not receipt_id or len(receipt_id) > 100 or not receipt_id.isprintable():
        raise InvalidInput("a receipt id is 1 to 100 printable characters", reason="bad_receipt")
    return receipt_id


@dataclass
class PurchaseResult:
    purchase: Purchase
    member: Member
    points: int
    created: bool  # False: this receipt was already recorded, nothing earned again
    events: list[Event] = field(default_factory=list)


def record_purchase(
    session: Session,
    program: Program,
    config: ProgramConfig,
    member: Member,
    amount_text: str | Decimal,
    receipt_id: str,
    now: datetime,
    actor: str | None = None,
) -> PurchaseResult:
    amount = parse_amount(amount_text, program.currency)
    receipt_id = check_receipt(receipt_id)
    member = ledger.lock_member(session, member.id)
    if member.deleted_at is not None:
        raise Refused("this member deleted their data", reason="deleted_member")
    existing = _purchase(session, program.id, receipt_id)
    if existing is not None:
        return _repeat(existing, member, amount, program.currency)
    points = purchase_points(config, amount, tiers.multiplier(member), offers.multiplier_permille(session, member, now))
    # Refused before anything is written, so a till that retries with a smaller amount can.
    ledger.check_points(points + config.earning.per_visit, f"a purchase of {amount} {program.currency}")
    purchase = Purchase(
        program_id=program.id, member_id=member.id, receipt_id=receipt_id,
        amount_minor=to_minor(amount, program.currency), points=0, created_at=now, actor=actor,
    )
    try:
        with session.begin_nested():
            session.add(purchase)
    except IntegrityError:  # the same receipt, committed by a concurrent request
        return _repeat(_purchase(session, program.id, receipt_id), member, amount, program.currency)  # type: ignore[arg-type]

    available_at = now + timedelta(days=config.earning.pending_days) if config.earning.pending_days else None
    result = PurchaseResult(purchase, member, 0, True)
    for kind, value in (("purchase", points), ("visit", config.earning.per_visit)):
        if value > 0:
            ledger.post(
                session, member, value, kind, f"{kind}:{receipt_id}", f"{kind} {receipt_id}", now,
                available_at=available_at, purchase_id=purchase.id, actor=actor,
            )
            result.points += value
    purchase.points = result.points
    member.last_activity_at = now
    if result.points:
        result.events.append(PointsEarned(member.id, result.points, member.balance, "purchase"))
    change = tiers.evaluate(session, member, now, config.tier_rules.window_days)
    if change:
        result.events.append(change)
    result.events.extend(referrals.on_purchase(session, config, member, purchase, amount, now))
    return result


def _purchase(session: Session, program_id: int, receipt_id: str) -> Purchase | None:
    return session.scalar(select(Purchase).where(Purchase.program_id == program_id, Purchase.receipt_id == receipt_id))


def _repeat(existing: Purchase, member: Member, amount: Decimal, currency: str) -> PurchaseResult:
    if existing.member_id != member.id or existing.amount_minor != to_minor(amount, currency):
        raise Refused(
            f"receipt {existing.receipt_id} was already recorded for another member or amount;"
            " use a new receipt id",
            reason="receipt_conflict",
        )
    return PurchaseResult(existing, member, existing.points, False)


@dataclass
class RefundResult:
    purchase: Purchase
    member: Member
    points: int  # points taken back
    events: list[Event] = field(default_factory=list)


def purchase_of(session: Session, program_id: int, receipt_id: str) -> Purchase:
    """The purchase recorded with ``receipt_id``, refunded or not: what a refund would take
    back (the till shows it before its cashier confirms)."""
    purchase = _purchase(session, program_id, check_receipt(receipt_id))
    if purchase is None:
        raise NotFound(f"no purchase with receipt {receipt_id}", reason="unknown_receipt")
    return purchase


def refund(
    session: Session, program: Program, config: ProgramConfig, receipt_id: str, now: datetime, actor: str | None = None
) -> RefundResult:
    """Reverse every point a purchase earned, and the referral bonuses it qualified. The
    balance may go below zero only through reversals."""
    purchase = purchase_of(session, program.id, receipt_id)
    member = ledger.lock_member(session, purchase.member_id)
    # Read the purchase again under the member's lock: a concurrent refund may have just
    # committed, and the row read before the lock would not show it (PostgreSQL).
    session.refresh(purchase)
    if purchase.refunded_at is not None:
        raise AlreadyDone(f"receipt {receipt_id} was already refunded", reason="already_refunded")
    entries = session.scalars(
        select(LedgerEntry).where(LedgerEntry.purchase_id == purchase.id, LedgerEntry.amount > 0)
    ).all()
    result = RefundResult(purchase, member, 0)
    for entry in entries:
        posted = ledger.post(
            session, member, -entry.amount, "reversal", f"refund:{entry.idempotency_key}",
            f"refund of receipt {receipt_id}", now, lot_at=entry.lot_at, available_at=entry.available_at,
            purchase_id=purchase.id, actor=actor,
        )
        if posted is not None:
            result.points += entry.amount
    purchase.refunded_at = now
    referral_events = referrals.on_refund(session, purchase, now)
    if result.points:
        result.events.append(PointsReversed(member.id, result.points, member.balance, receipt_id))
    result.events.extend(referral_events)
    change = tiers.evaluate(session, member, now, config.tier_rules.window_days)
    if change:
        result.events.append(change)
    return result


def award(
    session: Session, member: Member, kind: str, points: int, key: str, reason: str, now: datetime,
    actor: str | None = None,
) -> PointsEarned | None:
    """A bonus (join, birthday, survey, campaign) paid once per ``key``."""
    if points <= 0:
        return None
    entry = ledger.post(session, member, points, kind, key, reason, now, actor=actor)
    return PointsEarned(member.id, points, member.balance, kind) if entry else None


def adjust(
    session: Session, member: Member, points: int, reason: str, key: str, now: datetime, actor: str
) -> LedgerEntry:
    """A staff correction with a reason. A deduction cannot take the balance below zero."""
    if not reason.strip():
        raise InvalidInput("an adjustment needs a reason", reason="no_reason")
    entry = ledger.post(session, member, points, "adjust", key, reason.strip(), now, actor=actor, require_spendable=True)
    if entry is None:
        raise AlreadyDone(f"adjustment {key} was already applied", reason="already_done")
    return entry


def is_birthday(birthday: date, today: date) -> bool:
    """29 February birthdays are celebrated on 28 February in other years."""
    if (birthday.month, birthday.day) == (2, 29) and not calendar.isleap(today.year):
        return (today.month, today.day) == (2, 28)
    return (birthday.month, birthday.day) == (today.month, today.day)


def birthday_bonus(session: Session, config: ProgramConfig, member: Member, now: datetime) -> PointsEarned | None:
    """Pay ``birthday_bonus`` if it is the member's birthday in the program's time zone;
    once a year, however often this runs."""
    today = now.astimezone(ZoneInfo(config.timezone)).date()
    if not config.earning.birthday_bonus or member.birthday is None or member.deleted_at is not None:
        return None
    if not is_birthday(member.birthday, today):
        return None
    return award(session, member, "birthday", config.earning.birthday_bonus, f"birthday:{member.id}:{today.year}",
                 f"birthday bonus {today.year}", now)
