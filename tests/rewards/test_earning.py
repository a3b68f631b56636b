"""Earning: purchase points with the program's rounding and the tier multiplier,
per-visit and join points, amounts as staff type them, receipts that earn once, refunds
that reverse exactly, and the tier changes they cause."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from support import outstanding

from rewards import catalog, earning, ledger, redemption, tiers
from rewards.errors import AlreadyDone, InsufficientPoints, InvalidInput, NotFound, Refused
from rewards.events import PointsEarned, PointsReversed, TierChanged
from rewards.models import LedgerEntry, Member, Program, Purchase
from rewards.standing import standing

DAY = timedelta(days=1)
# The tests whose SQL leans on dates, sums and locks run on both databases.
both_databases = pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)


def purchases(session):  # type: ignore[no-untyped-def]
    return session.scalar(select(func.count(Purchase.id)))


def ledger_rows(session):  # type: ignore[no-untyped-def]
    return session.scalar(select(func.count(LedgerEntry.id)))


# --- how many points ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rounding", "amount", "points"),
    [
        ("down", "12.34", 123), ("nearest", "12.34", 123), ("up", "12.34", 124),
        ("down", "12.35", 123), ("nearest", "12.35", 124), ("up", "12.35", 124),
        ("down", "12.39", 123), ("nearest", "12.39", 124), ("up", "12.39", 124),
        ("down", "12.30", 123), ("nearest", "12.30", 123), ("up", "12.30", 123),
        ("down", "0.09", 0), ("nearest", "0.05", 1), ("up", "0.01", 1),
    ],
)
def test_the_rounding_rule_decides_the_fraction_of_a_point(demo_config, rounding, amount, points):
    config = replace(demo_config, earning=replace(demo_config.earning, rounding=rounding, points_per_unit=Decimal(10)))
    assert earning.purchase_points(config, Decimal(amount), 1000) == points


@pytest.mark.parametrize(("rounding", "expected"), [("down", (123, 123, 0)), ("nearest", (123, 124, 1)), ("up", (124, 124, 1))])
def test_purchases_earn_by_the_programs_rounding_rule(session, join, configure, program, entries, rounding, expected, T0):
    config = configure(earning={"rounding": rounding})
    member = join(config=config)

    results = [
        earning.record_purchase(session, program, config, member, amount, f"R-{i}", T0)
        for i, amount in enumerate(("12.34", "12.35", "0.05"))
    ]
    session.commit()

    assert tuple(r.points for r in results) == expected
    assert all(r.created for r in results)
    assert [session.get(Purchase, r.purchase.id).points for r in results] == list(expected)
    assert entries(member) == [("join", 50)] + [("purchase", p) for p in expected if p]  # no zero entries
    assert member.balance == 50 + sum(expected)


def test_the_tier_multiplier_applies_to_purchase_points(session, join, configure, make_tier, program, entries, T0):
    config = configure(tiers=[make_tier("Bronze", 0), make_tier("Gold", 1000, "1.5")])
    member = join(config=config)

    first = earning.record_purchase(session, program, config, member, "100.00", "R-1", T0)
    second = earning.record_purchase(session, program, config, member, "10.01", "R-2", T0 + DAY)
    session.commit()

    assert first.points == 1000  # earned as Bronze, which it makes Gold
    assert second.points == 150  # 100.1 x 1.5 = 150.15, rounded down
    assert member.tier.name == "Gold"
    assert entries(member) == [("join", 50), ("purchase", 1000), ("purchase", 150)]


def test_per_visit_points_come_with_every_purchase_whatever_its_amount(session, join, configure, program, T0):
    config = configure(earning={"per_visit": 5})
    member = join(config=config)

    result = earning.record_purchase(session, program, config, member, "1.00", "R-1", T0)
    small = earning.record_purchase(session, program, config, member, "0.05", "R-2", T0)
    session.commit()

    assert (result.points, small.points) == (15, 5)
    rows = session.execute(
        select(LedgerEntry.kind, LedgerEntry.amount, LedgerEntry.idempotency_key)
        .where(LedgerEntry.member_id == member.id, LedgerEntry.purchase_id.is_not(None)).order_by(LedgerEntry.id)
    ).all()
    assert rows == [("purchase", 10, "purchase:R-1"), ("visit", 5, "visit:R-1"), ("visit", 5, "visit:R-2")]
    assert member.balance == 50 + 20


def test_a_purchase_says_what_was_earned(session, join, program, demo_config, T0):
    member = join()
    result = earning.record_purchase(session, program, demo_config, member, "12.50", "R-1", T0, actor="staff:ana")
    session.commit()
    assert result.events == [PointsEarned(member.id, 125, 175, "purchase")]
    stored = session.get(Purchase, result.purchase.id)
    assert (stored.receipt_id, stored.amount_minor, stored.points, stored.actor, stored.created_at) == (
        "R-1", 1250, 125, "staff:ana", T0)
    assert member.last_activity_at == T0


def test_joining_pays_the_join_bonus_once(session, join, configure, entries, T0):
    member = join()
    session.commit()
    assert entries(member) == [("join", 50)]
    assert member.balance == 50
    key = session.scalar(select(LedgerEntry.idempotency_key).where(LedgerEntry.member_id == member.id))
    assert key == f"join:{member.id}"
    assert earning.award(session, member, "join", 50, key, "welcome bonus", T0) is None  # a replayed sign-up
    assert member.balance == 50

    config = configure(earning={"join_bonus": 0})
    assert entries(join(config=config)) == []


# --- amounts as staff type them --------------------------------------------------------------


BAD_AMOUNTS = ["0", "0.00", "-5", "-0.01", "12.345", "1.001", "abc", "", "  ", "12,50", "NaN", "Infinity", "1000000.01", "$12", "1e3", "1_000", "+5",
               "١٢", "１２", "1٢.50", "12.５0", "۱۲"]  # Arabic-Indic, full-width, Persian digits: 0-9 only


@pytest.mark.parametrize("text", BAD_AMOUNTS)
def test_an_amount_that_is_not_a_positive_amount_of_the_currency_is_refused(text):
    with pytest.raises(InvalidInput) as refused:
        earning.parse_amount(text, "USD")
    assert refused.value.reason == "bad_amount"


def test_a_refused_amount_records_nothing(session, join, program, demo_config, T0):
    member = join()
    session.commit()
    for i, text in enumerate(BAD_AMOUNTS):
        with pytest.raises(InvalidInput):
            earning.record_purchase(session, program, demo_config, member, text, f"R-{i}", T0)
    session.commit()
    assert purchases(session) == 0
    assert ledger_rows(session) == 1 and member.balance == 50


@pytest.mark.parametrize(("text", "minor"), [("12.5", 1250), (" 12.50 ", 1250), ("12.500", 1250), ("7", 700), ("0.01", 1), ("1000000", 100000000)])
def test_usd_amounts_are_kept_in_cents(text, minor):
    assert earning.to_minor(earning.parse_amount(text, "USD"), "USD") == minor


def test_yen_amounts_have_no_decimals(session, join, configure, program, T0):
    config = configure(currency="JPY", earning={"points_per_unit": 1})
    yen = session.get(Program, program.id)
    member = join(config=config)

    with pytest.raises(InvalidInput) as refused:
        earning.record_purchase(session, yen, config, member, "1200.5", "R-1", T0)
    assert refused.value.reason == "bad_amount" and "JPY" in str(refused.value)

    result = earning.record_purchase(session, yen, config, member, "1200", "R-2", T0)
    assert (result.purchase.amount_minor, result.points) == (1200, 1200)


def test_a_receipt_id_must_be_short_printable_text(session, join, program, demo_config, T0):
    member = join()
    for receipt in ("", "   ", "x" * 101, "R-1\n2"):
        with pytest.raises(InvalidInput) as refused:
            earning.record_purchase(session, program, demo_config, member, "5.00", receipt, T0)
        assert refused.value.reason == "bad_receipt"
    assert purchases(session) == 0
    assert earning.check_receipt(" R-1 ") == "R-1" and earning.check_receipt("x" * 100) == "x" * 100


# --- a receipt earns once -------------------------------------------------------------------


def test_the_same_receipt_twice_earns_once_and_says_so(session, join, program, demo_config, entries, T0):
    member = join()
    first = earning.record_purchase(session, program, demo_config, member, "12.50", "R-1", T0)
    session.commit()
    again = earning.record_purchase(session, program, demo_config, member, "12.50", " R-1 ", T0 + DAY)
    session.commit()

    assert (first.created, first.points) == (True, 125)
    assert (again.created, again.points, again.events) == (False, 125, [])
    assert again.purchase.id == first.purchase.id
    assert purchases(session) == 1
    assert entries(member) == [("join", 50), ("purchase", 125)]
    assert member.balance == 175


def test_the_same_receipt_with_another_amount_or_member_is_refused(session, join, program, demo_config, entries, T0):
    alice, bob = join(), join()
    earning.record_purchase(session, program, demo_config, alice, "12.50", "R-1", T0)
    session.commit()

    with pytest.raises(Refused) as other_amount:
        earning.record_purchase(session, program, demo_config, alice, "12.60", "R-1", T0)
    with pytest.raises(Refused) as other_member:
        earning.record_purchase(session, program, demo_config, bob, "12.50", "R-1", T0)
    session.commit()

    assert other_amount.value.reason == other_member.value.reason == "receipt_conflict"
    assert purchases(session) == 1
    assert entries(alice) == [("join", 50), ("purchase", 125)]
    assert entries(bob) == [("join", 50)]


def test_a_deleted_member_earns_nothing(session, join, program, demo_config, T0):
    from rewards import members

    member = join()
    members.delete_member(session, member, T0)
    with pytest.raises(Refused) as refused:
        earning.record_purchase(session, program, demo_config, member, "5.00", "R-1", T0)
    assert refused.value.reason == "deleted_member" and purchases(session) == 0


# --- refunds --------------------------------------------------------------------------


def test_a_refund_reverses_exactly_what_the_purchase_earned(session, join, configure, program, entries, T0):
    config = configure(earning={"per_visit": 3})
    member = join(config=config)
    earning.record_purchase(session, program, config, member, "12.34", "R-1", T0)
    session.commit()

    result = earning.refund(session, program, config, "R-1", T0 + DAY, actor="staff:ana")
    session.commit()

    assert result.points == 126
    assert result.events == [PointsReversed(member.id, 126, 50, "R-1")]
    assert entries(member) == [("join", 50), ("purchase", 123), ("visit", 3), ("reversal", -123), ("reversal", -3)]
    assert member.balance == 50
    assert session.get(Purchase, result.purchase.id).refunded_at == T0 + DAY
    keys = session.scalars(
        select(LedgerEntry.idempotency_key).where(LedgerEntry.kind == "reversal").order_by(LedgerEntry.id)
    ).all()
    assert keys == ["refund:purchase:R-1", "refund:visit:R-1"]


def test_a_second_refund_is_refused_and_changes_nothing(session, join, program, demo_config, entries, T0):
    member = join()
    earning.record_purchase(session, program, demo_config, member, "10.00", "R-1", T0)
    earning.refund(session, program, demo_config, "R-1", T0)
    session.commit()

    with pytest.raises(AlreadyDone) as again:
        earning.refund(session, program, demo_config, "R-1", T0 + DAY)
    session.commit()
    assert again.value.reason == "already_refunded"
    assert entries(member) == [("join", 50), ("purchase", 100), ("reversal", -100)]
    assert member.balance == 50


def test_refunding_an_unknown_receipt_is_refused(session, join, program, demo_config, T0):
    join()
    with pytest.raises(NotFound) as refused:
        earning.refund(session, program, demo_config, "R-404", T0)
    assert refused.value.reason == "unknown_receipt"


def test_a_refunded_receipt_is_not_earned_again(session, join, program, demo_config, entries, T0):
    member = join()
    earning.record_purchase(session, program, demo_config, member, "10.00", "R-1", T0)
    earning.refund(session, program, demo_config, "R-1", T0)
    again = earning.record_purchase(session, program, demo_config, member, "10.00", "R-1", T0 + DAY)
    assert not again.created
    assert member.balance == 50


@both_databases
def test_a_refund_inside_the_pending_window_takes_back_points_that_were_never_spendable(
    session, join, configure, program, T0
):
    config = configure(earning={"pending_days": 14})
    member = join(config=config)
    earning.record_purchase(session, program, config, member, "20.00", "R-1", T0)
    session.commit()
    assert (member.balance, ledger.spendable(session, member, T0)) == (250, 50)

    earning.refund(session, program, config, "R-1", T0 + 3 * DAY)
    session.commit()

    assert member.balance == 50
    assert ledger.spendable(session, member, T0 + 3 * DAY) == 50  # unchanged: those points never were spendable
    assert ledger.pending_points(session, member.id, T0 + 3 * DAY) == 0
    assert ledger.spendable(session, member, T0 + 30 * DAY) == 50


@both_databases
def test_a_refund_may_take_the_balance_below_zero_and_then_nothing_can_be_redeemed(
    session, join, configure, make_reward, reward_row, program, T0
):
    config = configure(rewards=[make_reward("coffee", cost=500), make_reward("sticker", cost=10)])
    member = join(config=config)
    earning.record_purchase(session, program, config, member, "50.00", "R-1", T0)
    redemption.issue(session, config, member, reward_row("coffee"), T0)
    session.commit()
    assert member.balance == 50

    earning.refund(session, program, config, "R-1", T0 + DAY)
    session.commit()
    assert member.balance == -450

    with pytest.raises(InsufficientPoints):
        redemption.issue(session, config, member, reward_row("sticker"), T0 + DAY)
    with pytest.raises(InsufficientPoints):
        earning.adjust(session, member, -1, "correction", "adjust:1", T0 + DAY, "staff:ana")
    assert {o.reward.slug: o.blocked for o in catalog.offers(session, config, member, T0 + DAY)} == {
        "coffee": "points", "sticker": "points"}
    assert member.balance == -450 and outstanding(session, member.id, T0 + DAY) != []

    earning.record_purchase(session, program, config, member, "45.90", "R-2", T0 + 2 * DAY)
    assert member.balance == 9
    with pytest.raises(InsufficientPoints):
        redemption.issue(session, config, member, reward_row("sticker"), T0 + 2 * DAY)
    earning.record_purchase(session, program, config, member, "0.10", "R-3", T0 + 2 * DAY)
    redemption.issue(session, config, member, reward_row("sticker"), T0 + 2 * DAY)
    session.commit()
    assert member.balance == 0


def test_a_staff_adjustment_needs_a_reason_and_applies_once(session, join, T0):
    member = join()
    with pytest.raises(InvalidInput):
        earning.adjust(session, member, 10, "  ", "adjust:1", T0, "staff:ana")
    earning.adjust(session, member, 10, "coffee spilled", "adjust:1", T0, "staff:ana")
    with pytest.raises(AlreadyDone):
        earning.adjust(session, member, 10, "coffee spilled", "adjust:1", T0, "staff:ana")
    assert member.balance == 60


# --- tiers ----------------------------------------------------------------------------


@pytest.fixture
def gold_at_1000(configure, make_tier):  # type: ignore[no-untyped-def]
    return configure(tiers=[make_tier("Bronze", 0), make_tier("Silver", 500, "1.25"), make_tier("Gold", 1000, "1.5")])


def test_joining_puts_a_member_in_the_lowest_tier(session, join, gold_at_1000):
    assert join(config=gold_at_1000).tier.name == "Bronze"


def test_an_upgrade_is_announced(session, join, gold_at_1000, program, T0):
    config = gold_at_1000
    member = join(config=config)

    silver = earning.record_purchase(session, program, config, member, "60.00", "R-1", T0)
    same = earning.record_purchase(session, program, config, member, "1.00", "R-2", T0)
    gold = earning.record_purchase(session, program, config, member, "40.00", "R-3", T0)
    session.commit()

    assert TierChanged(member.id, "Bronze", "Silver", True) in silver.events
    assert not any(isinstance(e, TierChanged) for e in same.events)
    assert TierChanged(member.id, "Silver", "Gold", True) in gold.events
    assert session.get(Member, member.id).tier.name == "Gold"


def test_a_refund_that_drops_below_a_threshold_announces_the_downgrade(session, join, gold_at_1000, program, T0):
    config = gold_at_1000
    member = join(config=config)
    earning.record_purchase(session, program, config, member, "100.00", "R-1", T0)
    earning.record_purchase(session, program, config, member, "10.00", "R-2", T0)
    assert member.tier.name == "Gold"

    result = earning.refund(session, program, config, "R-1", T0 + DAY)
    session.commit()

    assert TierChanged(member.id, "Gold", "Bronze", False) in result.events
    assert session.get(Member, member.id).tier.name == "Bronze"


@both_databases
def test_progress_counts_purchase_points_in_the_window_only(session, join, gold_at_1000, program, T0):
    config = gold_at_1000
    member = join(config=config)  # the join bonus does not count toward a tier
    ledger.post(session, member, 5000, "bonus", "bonus:big", "campaign", T0)
    earning.record_purchase(session, program, config, member, "38.00", "R-1", T0)

    progress = tiers.progress(session, member, T0, config.tier_rules.window_days)
    assert (progress.tier.name, progress.points, progress.next_tier.name, progress.points_to_next) == (
        "Bronze", 380, "Silver", 120)
    later = tiers.progress(session, member, T0 + (config.tier_rules.window_days + 1) * DAY, config.tier_rules.window_days)
    assert (later.points, later.points_to_next) == (0, 500)
    # What a "balance" answer reads, in one pass over the ledger, agrees.
    def shown(p):  # type: ignore[no-untyped-def]
        return p.tier.name, p.points, p.next_tier and p.next_tier.name, p.points_to_next
    assert shown(standing(session, config, member, T0).progress) == shown(progress)
    assert shown(standing(session, config, member, T0 + (config.tier_rules.window_days + 1) * DAY).progress) == shown(later)
