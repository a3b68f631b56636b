"""The points ledger: integer, append-only entries with idempotency keys; a cached
balance the audit proves; invariants the database itself refuses to break; pending
points; expiry oldest first."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from rewards import earning, ledger, members, redemption
from rewards.errors import InsufficientPoints, InvalidInput
from rewards.models import LedgerEntry, Member
from rewards.program.config import Expiry
from rewards.program.programs import sync_program
from rewards.standing import standing

DAY = timedelta(days=1)
# The tests whose SQL leans on dates, sums and locks run on both databases.
both_databases = pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)


def all_entries(session, member):  # type: ignore[no-untyped-def]
    return list(session.scalars(select(LedgerEntry).where(LedgerEntry.member_id == member.id).order_by(LedgerEntry.id)))


# --- integers, append-only, idempotency --------------------------------------------------


def test_only_non_zero_integer_amounts_are_posted(session, join, entries, T0):
    member = join()
    for amount in (1.5, 10.0, "10", True, 0, None):
        with pytest.raises(InvalidInput):
            ledger.post(session, member, amount, "bonus", f"bonus:{amount!r}", "odd amount", T0)
    session.commit()
    assert entries(member) == [("join", 50)]
    assert member.balance == 50


def test_an_unknown_kind_is_refused(session, join, entries, T0):
    member = join()
    with pytest.raises(InvalidInput):
        ledger.post(session, member, 10, "gift", "gift:1", "a gift", T0)
    assert entries(member) == [("join", 50)]


def test_each_post_appends_one_entry_and_moves_the_cached_balance(session, join, entries, ledger_sum, T0):
    member = join()
    ledger.post(session, member, 120, "bonus", "bonus:spring", "spring bonus", T0)
    ledger.post(session, member, -30, "adjust", "adjust:1", "typo at the till", T0 + DAY, actor="staff:ana")
    ledger.post(session, member, 7, "adjust", "adjust:2", "goodwill", T0 + 2 * DAY, actor="staff:ana")
    session.commit()

    assert entries(member) == [("join", 50), ("bonus", 120), ("adjust", -30), ("adjust", 7)]
    assert session.get(Member, member.id).balance == 147 == ledger_sum(member)
    last = all_entries(session, member)[-1]
    assert (last.reason, last.actor, last.idempotency_key, last.created_at) == ("goodwill", "staff:ana", "adjust:2", T0 + 2 * DAY)
    report = ledger.audit(session)
    assert report.ok
    assert (report.earned, report.adjusted, report.ledger_total, report.cached_total) == (170, -23, 147, 147)


def test_the_same_idempotency_key_posts_once(session, join, entries, T0):
    member = join()
    first = ledger.post(session, member, 100, "bonus", "bonus:survey-7", "survey answered", T0)
    again = ledger.post(session, member, 100, "bonus", "bonus:survey-7", "survey answered", T0 + DAY)
    other_amount = ledger.post(session, member, 999, "bonus", "bonus:survey-7", "a different cause", T0)
    session.commit()

    assert first is not None and again is None and other_amount is None
    assert entries(member) == [("join", 50), ("bonus", 100)]
    assert member.balance == 150


def test_idempotency_keys_are_per_program_not_per_member(session, join, entries, T0):
    # A cause happens once in a program: the same key for another member is still a repeat.
    alice, bob = join(), join()
    ledger.post(session, alice, 10, "bonus", "bonus:campaign-3", "campaign", T0)
    assert ledger.post(session, bob, 10, "bonus", "bonus:campaign-3", "campaign", T0) is None
    assert entries(bob) == [("join", 50)]


def test_corrections_are_new_entries_and_old_entries_never_change(session, join, program, demo_config, T0):
    config = demo_config
    member = join()
    earning.record_purchase(session, program, config, member, "12.00", "R-1", T0)
    session.commit()
    snapshot = [(e.id, e.amount, e.kind, e.idempotency_key, e.created_at, e.lot_at) for e in all_entries(session, member)]

    earning.refund(session, program, config, "R-1", T0 + DAY)
    earning.adjust(session, member, 5, "goodwill", "adjust:goodwill", T0 + DAY, "staff:ana")
    session.commit()

    after = all_entries(session, member)
    assert [(e.id, e.amount, e.kind, e.idempotency_key, e.created_at, e.lot_at) for e in after[: len(snapshot)]] == snapshot
    assert [(e.kind, e.amount) for e in after[len(snapshot):]] == [("reversal", -120), ("adjust", 5)]
    assert after[-2].lot_at == T0  # a reversal carries the lot of what it reverses


# --- the audit ---------------------------------------------------------------------------


def test_audit_proves_cached_balances_equal_ledger_sums(session, join, T0):
    alice, bob = join(), join()
    ledger.post(session, alice, 200, "bonus", "bonus:a", "bonus", T0)
    ledger.post(session, bob, -20, "adjust", "adjust:b", "correction", T0)
    session.commit()

    report = ledger.audit(session)
    assert report.ok and report.mismatches == []
    assert report.members_checked == 2
    assert report.ledger_total == report.cached_total == 280
    assert report.lines()[-1] == "audit OK"


@both_databases
def test_audit_detects_a_cached_balance_changed_behind_the_ledger(engine, session, join, T0):
    member = join()
    ledger.post(session, member, 100, "bonus", "bonus:a", "bonus", T0)
    session.commit()

    with engine.begin() as conn:  # another connection, behind the ORM's back
        conn.execute(text("UPDATE members SET balance = balance + 1000 WHERE id = :id"), {"id": member.id})

    report = ledger.audit(session)
    session.commit()
    assert not report.ok
    assert report.mismatches == [(member.id, 1150, 150)]
    assert report.cached_total == 1150 and report.ledger_total == 150
    assert f"member {member.id}: cached balance 1150 but ledger sum 150" in report.lines()
    assert report.lines()[-1] == "AUDIT FAILED"

    with engine.begin() as conn:  # put it right, so the fixture's final audit holds
        conn.execute(text("UPDATE members SET balance = 150 WHERE id = :id"), {"id": member.id})
    assert ledger.audit(session).ok
    session.commit()


def test_audit_of_one_program_counts_only_that_programs_members(session, join, program, demo_config, T0):
    join()
    other_config = replace(demo_config, slug="other-shop", name="Other Shop", earning=replace(demo_config.earning, join_bonus=70))
    other = sync_program(session, other_config, T0)
    identity = members.get_identity(session, other.id, "terminal", "+15550009999", T0)
    members.join(session, other, other_config, identity, T0, phone="+15550009999", language="en")
    session.commit()

    mine, theirs, everyone = ledger.audit(session, program.id), ledger.audit(session, other.id), ledger.audit(session)
    assert (mine.members_checked, mine.totals, mine.ledger_total) == (1, {"join": 50}, 50)
    assert (theirs.members_checked, theirs.totals, theirs.ledger_total) == (1, {"join": 70}, 70)
    assert (everyone.members_checked, everyone.ledger_total) == (2, 120)
    assert mine.ok and theirs.ok and everyone.ok


# --- what the database itself refuses (behind the ORM, raw SQL) ----------------------------

INSERT = text(
    "INSERT INTO ledger_entries (program_id, member_id, amount, kind, reason, idempotency_key, created_at, lot_at)"
    " VALUES (:program_id, :member_id, :amount, :kind, 'raw', :key, :at, :at)"
)


@pytest.fixture
def raw_member(session, join):  # type: ignore[no-untyped-def]
    member = join()
    session.commit()
    return member


def _raw_insert(engine, member, amount, kind, key):  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        conn.execute(INSERT, {
            "program_id": member.program_id, "member_id": member.id, "amount": amount, "kind": kind,
            "key": key, "at": datetime(2026, 3, 2, 15, 0),
        })


WRONG_ENTRIES = [
    ("redeem", 50), ("expire", 1), ("reversal", 10), ("forfeit", 5), ("purchase", -50), ("join", -1),
    ("code_return", -3), ("purchase", 0), ("adjust", 0), ("gift", 10),
]


@pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
def test_the_database_refuses_an_entry_with_the_wrong_sign_or_kind(engine, raw_member, session):
    accepted = []
    for kind, amount in WRONG_ENTRIES:
        try:
            _raw_insert(engine, raw_member, amount, kind, f"raw:{kind}:{amount}")
        except IntegrityError:
            continue
        accepted.append((kind, amount))
    assert accepted == []
    assert session.scalar(select(LedgerEntry.id).where(LedgerEntry.idempotency_key.like("raw:%"))) is None


@pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
def test_the_database_refuses_a_duplicate_idempotency_key(engine, raw_member, session):
    key = f"join:{raw_member.id}"  # already posted by the sign-up
    with pytest.raises(IntegrityError):
        _raw_insert(engine, raw_member, 50, "join", key)
    assert session.scalars(select(LedgerEntry.amount).where(LedgerEntry.idempotency_key == key)).all() == [50]


@pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
def test_the_database_accepts_a_well_formed_entry_and_the_audit_then_sees_the_gap(engine, raw_member, session):
    # The control for the two tests above: the raw INSERT itself is right, so a refusal
    # there is the constraint's doing. The cached balance is not moved, which the audit sees.
    member_id = raw_member.id
    _raw_insert(engine, raw_member, 5, "bonus", "raw:control")
    report = ledger.audit(session)
    assert report.mismatches == [(member_id, 50, 55)]
    session.rollback()
    with engine.begin() as conn:  # entries cannot be removed, so the balance is brought level
        conn.execute(text("UPDATE members SET balance = balance + 5 WHERE id = :id"), {"id": member_id})
    assert ledger.audit(session).ok


@pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
def test_the_database_refuses_to_edit_or_remove_an_entry(engine, raw_member, session):
    member_id = raw_member.id
    for change in ("UPDATE ledger_entries SET amount = 5000", "DELETE FROM ledger_entries"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(change))
    assert session.scalars(select(LedgerEntry.amount).where(LedgerEntry.member_id == member_id)).all() == [50]


# --- pending points ----------------------------------------------------------------------


@both_databases
def test_pending_points_are_not_spendable_until_the_return_window_passes(session, join, configure, make_reward, reward_row, program, T0):
    config = configure(earning={"pending_days": 14}, rewards=[make_reward("cake", cost=200)])
    member = join(config=config)
    earning.record_purchase(session, program, config, member, "20.00", "R-1", T0)
    session.commit()

    assert member.balance == 250
    assert ledger.pending_points(session, member.id, T0) == 200
    assert ledger.spendable(session, member, T0) == 50
    assert (standing(session, config, member, T0).pending, standing(session, config, member, T0).spendable) == (200, 50)
    last_second = T0 + 14 * DAY - timedelta(seconds=1)
    assert ledger.spendable(session, member, last_second) == 50
    with pytest.raises(InsufficientPoints) as refused:
        redemption.issue(session, config, member, reward_row("cake"), last_second)
    assert refused.value.details == {"needed": 200, "available": 50}
    assert member.balance == 250

    assert ledger.pending_points(session, member.id, T0 + 14 * DAY) == 0
    assert ledger.spendable(session, member, T0 + 14 * DAY) == 250
    assert standing(session, config, member, T0 + 14 * DAY).spendable == 250
    redemption.issue(session, config, member, reward_row("cake"), T0 + 14 * DAY)
    session.commit()
    assert member.balance == 50


def test_non_purchase_points_are_spendable_at_once_even_with_a_window(session, join, configure, T0):
    config = configure(earning={"pending_days": 30})
    member = join(config=config)
    ledger.post(session, member, 100, "bonus", "bonus:x", "bonus", T0)
    assert ledger.spendable(session, member, T0) == 150


# --- expiry, oldest first ---------------------------------------------------------------


@pytest.fixture
def aged_member(session, join, configure, make_reward, reward_row, program, T0):  # type: ignore[no-untyped-def]
    """Earned 100 (day 0), 200 (day 10), 300 (day 20); spent 50 (day 30); the day-10
    purchase refunded on day 40. Balance 350. Points expire 100 days after being earned."""
    config = configure(earning={"join_bonus": 0}, expiry={"after_days": 100}, rewards=[make_reward("tea", cost=50)])
    member = join(config=config)
    for day, receipt, amount in ((0, "A", "10.00"), (10, "B", "20.00"), (20, "C", "30.00")):
        earning.record_purchase(session, program, config, member, amount, receipt, T0 + day * DAY)
    redemption.issue(session, config, member, reward_row("tea"), T0 + 30 * DAY)
    earning.refund(session, program, config, "B", T0 + 40 * DAY)
    session.commit()
    assert member.balance == 350
    return member


@both_databases
def test_points_expire_oldest_first_net_of_spending_and_refunds(session, aged_member, program, entries, T0):
    expire = lambda day: ledger.expire_points(session, program.id, 100, T0 + day * DAY)  # noqa: E731

    # Day 105: the day-0 lot (100) is due; 50 of it was spent first.
    assert expire(105) == [ledger.Expired(aged_member.id, 50)]
    assert aged_member.balance == 300
    # Day 115: the day-10 lot is due, but it was refunded: nothing of it is left to expire.
    assert expire(115) == []
    # Day 125: the day-20 lot is due in full.
    assert expire(125) == [ledger.Expired(aged_member.id, 300)]
    session.commit()

    assert aged_member.balance == 0
    assert [e for e in entries(aged_member) if e[0] == "expire"] == [("expire", -50), ("expire", -300)]
    assert ledger.audit(session).expired == 350


@both_databases
def test_expiring_twice_expires_nothing_twice(session, aged_member, program, entries, T0):
    assert ledger.expire_points(session, program.id, 100, T0 + 105 * DAY) == [ledger.Expired(aged_member.id, 50)]
    assert ledger.expire_points(session, program.id, 100, T0 + 105 * DAY) == []
    assert ledger.expire_points(session, program.id, 100, T0 + 106 * DAY) == []
    session.commit()
    assert ledger.expire_points(session, program.id, 100, T0 + 105 * DAY) == []
    assert [e for e in entries(aged_member) if e[0] == "expire"] == [("expire", -50)]
    assert aged_member.balance == 300


def expiring_soon(session, config, member, now, after_days, days):  # type: ignore[no-untyped-def]
    """What a "balance" answer says will expire within ``days``."""
    config = replace(config, expiry=Expiry(after_days=after_days, remind_days_before=days))
    return standing(session, config, member, now).expiring_soon


def test_nothing_expires_before_its_time_or_when_expiry_is_off(session, aged_member, program, demo_config, T0):
    assert ledger.expire_points(session, program.id, 100, T0 + 100 * DAY - timedelta(seconds=1)) == []
    assert ledger.expire_points(session, program.id, 0, T0 + 1000 * DAY) == []
    assert expiring_soon(session, demo_config, aged_member, T0 + 1000 * DAY, 0, 14) == 0
    assert aged_member.balance == 350


@both_databases
def test_expiring_soon_says_what_will_expire_unless_spent(session, aged_member, program, demo_config, T0):
    soon = lambda day, days: expiring_soon(session, demo_config, aged_member, T0 + day * DAY, 100, days)  # noqa: E731
    assert soon(80, 14) == 0  # the day-0 lot expires on day 100
    assert soon(90, 14) == 50  # what is left of it
    assert soon(90, 40) == 350  # and the day-20 lot; the refunded day-10 lot never counts

    assert soon(105, 1) == 50  # due, but the daily job has not run yet: still reported
    ledger.expire_points(session, program.id, 100, T0 + 105 * DAY)
    assert soon(110, 5) == 0
    assert soon(110, 14) == 300


def test_spending_after_earning_late_points_still_takes_the_oldest_first(session, join, configure, program, T0):
    config = configure(earning={"join_bonus": 0})
    member = join(config=config)
    ledger.post(session, member, 100, "bonus", "bonus:old", "old", T0)
    ledger.post(session, member, 100, "bonus", "bonus:new", "new", T0 + 50 * DAY)
    earning.adjust(session, member, -60, "correction", "adjust:1", T0 + 60 * DAY, "staff:ana")
    assert ledger.expire_points(session, program.id, 100, T0 + 100 * DAY) == [ledger.Expired(member.id, 40)]
    assert ledger.expire_points(session, program.id, 100, T0 + 150 * DAY) == [ledger.Expired(member.id, 100)]
    assert member.balance == 0
