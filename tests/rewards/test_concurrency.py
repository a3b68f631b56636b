"""Concurrency: twenty requests at once, each in its own session and
transaction, on SQLite and on PostgreSQL. Nothing retries: any database error a thread
meets fails the test."""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from rewards import earning, ledger, members, redemption, referrals
from rewards.errors import AlreadyDone, InsufficientPoints, Refused
from rewards.models import Code, CodeAttempt, Identity, LedgerEntry, Member, Program, Purchase, Referral, Reward

THREADS = 20
both_databases = pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)


def all_at_once(sessions: sessionmaker[Session], work: Callable[[Session, int], Any], threads: int = THREADS) -> list[Any]:
    """Run ``work(session, i)`` in ``threads`` threads that start together; each commits its
    own transaction. Returns each thread's result, or the exception it raised."""
    barrier = threading.Barrier(threads, timeout=30)
    results: list[Any] = [None] * threads

    def run(i: int) -> None:
        try:
            barrier.wait()
            with sessions() as session:
                results[i] = work(session, i)
                session.commit()
        except Exception as error:  # noqa: BLE001 - handed back to the test, which judges it
            results[i] = error

    running = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(60)
    assert not any(thread.is_alive() for thread in running), "a thread hung"
    return results


def fresh(session: Session, model: type, ident: int) -> Any:
    """The row as the database holds it now, not as this session last saw it."""
    return session.get(model, ident, populate_existing=True)


def unexpected(results: list[Any], *allowed: type[Exception]) -> list[Exception]:
    return [r for r in results if isinstance(r, Exception) and not isinstance(r, allowed)]


@pytest.fixture
def member_id(session, join, T0) -> int:  # type: ignore[no-untyped-def]
    member = join()
    ledger.post(session, member, 1000, "bonus", "bonus:seed", "a bonus, which moves no tier", T0)
    session.commit()
    assert member.balance == 1050
    return member.id


@both_databases
def test_a_code_used_twenty_times_at_once_succeeds_once(sessions, session, configure, make_reward, reward_row, member_id, program, T0):
    config = configure(rewards=[make_reward("coffee", cost=500)])
    code = redemption.issue(session, config, session.get(Member, member_id), reward_row("coffee"), T0)
    session.commit()

    results = all_at_once(sessions, lambda s, i: redemption.use(s, program.id, code.code, T0, f"till-{i}").refused)

    assert unexpected(results) == []
    assert sorted(results, key=str) == [None] + ["used"] * (THREADS - 1)
    stored = fresh(session, Code, code.id)
    assert stored.status == "redeemed" and stored.used_by == f"till-{results.index(None)}"
    session.commit()


@both_databases
def test_the_same_receipt_posted_twenty_times_at_once_earns_once(sessions, session, member_id, program, demo_config, T0):
    def post(s: Session, i: int) -> bool:
        return earning.record_purchase(s, program, demo_config, s.get(Member, member_id), "12.50", "R-same", T0).created

    results = all_at_once(sessions, post)

    assert unexpected(results) == []
    assert sorted(results) == [False] * (THREADS - 1) + [True]
    assert session.scalar(select(func.count(Purchase.id)).where(Purchase.receipt_id == "R-same")) == 1
    earned = session.scalars(select(LedgerEntry.amount).where(LedgerEntry.idempotency_key == "purchase:R-same")).all()
    assert earned == [125]
    assert fresh(session, Member, member_id).balance == 1050 + 125
    session.commit()


@both_databases
def test_concurrent_redemptions_issue_only_what_the_balance_pays_for(sessions, session, configure, make_reward, reward_row, member_id, T0):
    config = configure(rewards=[make_reward("cake", cost=300)])  # 1050 points pay for 3
    cake_id = reward_row("cake").id
    session.commit()

    def redeem(s: Session, i: int) -> str:
        member = s.get(Member, member_id)
        return redemption.issue(s, config, member, s.get(Reward, cake_id), T0).code

    results = all_at_once(sessions, redeem)

    assert unexpected(results, InsufficientPoints) == []
    issued = [r for r in results if isinstance(r, str)]
    assert len(issued) == 3 and len(set(issued)) == 3
    assert session.scalar(select(func.count(Code.id)).where(Code.member_id == member_id)) == 3
    member = fresh(session, Member, member_id)
    assert member.balance == 1050 - 900 == 150
    total = session.scalar(select(func.sum(LedgerEntry.amount)).where(LedgerEntry.member_id == member_id))
    assert total == member.balance
    # Never below zero at any point: every running balance in posting order stays >= 0.
    running = 0
    for amount in session.scalars(select(LedgerEntry.amount).where(LedgerEntry.member_id == member_id).order_by(LedgerEntry.id)):
        running += amount
        assert running >= 0
    session.commit()


@both_databases
def test_twenty_different_receipts_at_once_all_earn(sessions, session, configure, make_tier, member_id, program, T0):
    config = configure(tiers=[make_tier("Bronze", 0)])  # one multiplier whatever the order of posting
    session.commit()

    def post(s: Session, i: int) -> int:
        return earning.record_purchase(s, program, config, s.get(Member, member_id), f"{i + 1}.00", f"R-{i}", T0).points

    results = all_at_once(sessions, post)

    assert unexpected(results) == []
    assert sorted(results) == [10 * (i + 1) for i in range(THREADS)]
    assert session.scalar(select(func.count(Purchase.id)).where(Purchase.member_id == member_id)) == THREADS
    member = fresh(session, Member, member_id)
    assert member.balance == 1050 + sum(10 * (i + 1) for i in range(THREADS)) == 3150
    session.commit()


@both_databases
def test_twenty_members_at_once_share_a_stock_of_five(sessions, session, configure, make_reward, reward_row, join, T0):
    config = configure(rewards=[make_reward("scarf", cost=10, stock=5)])
    scarf_id = reward_row("scarf").id
    member_ids = [join(config=config).id for _ in range(THREADS)]
    session.commit()

    def redeem(s: Session, i: int) -> str:
        return redemption.issue(s, config, s.get(Member, member_ids[i]), s.get(Reward, scarf_id), T0).code

    results = all_at_once(sessions, redeem)

    assert unexpected(results, Refused) == []
    assert sorted(r.reason for r in results if isinstance(r, Refused)) == ["stock"] * (THREADS - 5)
    assert len([r for r in results if isinstance(r, str)]) == 5
    assert fresh(session, Reward, scarf_id).stock == 0
    assert session.scalar(select(func.count(Code.id)).where(Code.reward_id == scarf_id)) == 5
    balances = session.scalars(select(Member.balance).where(Member.id.in_(member_ids))).all()
    assert sorted(balances) == [40] * 5 + [50] * (THREADS - 5)
    session.commit()


@both_databases
def test_a_per_member_limit_holds_under_concurrent_redemptions(sessions, session, configure, make_reward, reward_row, member_id, T0):
    config = configure(rewards=[make_reward("mug", cost=10, per_member_limit=2)])
    mug_id = reward_row("mug").id
    session.commit()

    results = all_at_once(
        sessions, lambda s, i: redemption.issue(s, config, s.get(Member, member_id), s.get(Reward, mug_id), T0).code
    )

    assert unexpected(results, Refused) == []
    assert len([r for r in results if isinstance(r, str)]) == 2
    assert {r.reason for r in results if isinstance(r, Refused)} == {"limit"}
    assert fresh(session, Member, member_id).balance == 1050 - 20
    session.commit()


@both_databases
def test_one_receipt_claimed_for_twenty_members_at_once_goes_to_one(sessions, session, join, program, demo_config, T0):
    # Different members lock different rows, so here the UNIQUE receipt decides.
    member_ids = [join().id for _ in range(THREADS)]
    session.commit()

    def post(s: Session, i: int) -> int:
        return earning.record_purchase(s, program, demo_config, s.get(Member, member_ids[i]), "12.50", "R-disputed", T0).points

    results = all_at_once(sessions, post)

    assert unexpected(results, Refused) == []
    assert results.count(125) == 1
    assert {r.reason for r in results if isinstance(r, Refused)} == {"receipt_conflict"}
    winner = member_ids[results.index(125)]
    assert session.scalars(select(Purchase.member_id).where(Purchase.receipt_id == "R-disputed")).all() == [winner]
    balances = dict(session.execute(select(Member.id, Member.balance).where(Member.id.in_(member_ids))).all())
    assert balances == {m: 175 if m == winner else 50 for m in member_ids}
    session.commit()


@both_databases
def test_a_receipt_refunded_twenty_times_at_once_is_refunded_once(sessions, session, member_id, program, demo_config, T0):
    earning.record_purchase(session, program, demo_config, session.get(Member, member_id), "12.50", "R-back", T0)
    session.commit()

    results = all_at_once(
        sessions, lambda s, i: earning.refund(s, program, demo_config, "R-back", T0 + timedelta(minutes=i)).points
    )

    assert unexpected(results, AlreadyDone) == []
    assert [r for r in results if not isinstance(r, AlreadyDone)] == [125]
    refunded_at = session.scalar(select(Purchase.refunded_at).where(Purchase.receipt_id == "R-back"))
    assert refunded_at == T0 + timedelta(minutes=results.index(125))  # the one refund that happened
    assert session.scalars(select(LedgerEntry.amount).where(LedgerEntry.kind == "reversal")).all() == [-125]
    assert fresh(session, Member, member_id).balance == 1050
    session.commit()


@both_databases
def test_the_monthly_referral_cap_holds_when_friends_join_at_once(sessions, session, configure, member_id, program, T0):
    config = configure(referrals={"max_per_month": 3})
    referrer_code = session.get(Member, member_id).code
    identity_ids = []
    for i in range(THREADS):
        identity = members.get_identity(session, program.id, "telegram", f"chat-{i}", T0)
        assert referrals.record_invite(session, config, identity, referrer_code, T0).accepted
        identity_ids.append(identity.id)
    session.commit()

    def sign_up(s: Session, i: int) -> bool:
        joined = members.join(s, s.get(Program, program.id), config, s.get(Identity, identity_ids[i]), T0,
                              phone=f"+1555030{i:04d}", language="en")
        return joined.referral.accepted

    results = all_at_once(sessions, sign_up)

    assert unexpected(results) == []
    assert results.count(True) == 3
    joined = session.scalar(select(func.count(Referral.id)).where(Referral.referrer_id == member_id, Referral.referee_id.is_not(None)))
    assert joined == 3
    session.commit()


@both_databases
def test_one_contact_saying_yes_twenty_times_at_once_becomes_one_member(sessions, session, program, demo_config, T0):
    # A Telegram contact who has not shared a phone: nothing but the identity says who they are.
    identity_id = members.get_identity(session, program.id, "telegram", "chat-42", T0).id
    session.commit()

    def sign_up(s: Session, i: int) -> int:
        identity = s.get(Identity, identity_id)
        return members.join(s, s.get(Program, program.id), demo_config, identity, T0, phone=None, language="en").member.id

    results = all_at_once(sessions, sign_up)

    assert unexpected(results, Refused) == []
    assert {r.reason for r in results if isinstance(r, Refused)} == {"already_member"}
    created = [r for r in results if isinstance(r, int)]
    assert len(created) == 1
    assert session.scalars(select(Member.id)).all() == created
    assert fresh(session, Identity, identity_id).member_id == created[0]
    session.commit()


@both_databases
def test_one_phone_joining_from_twenty_channels_at_once_becomes_one_member(sessions, session, program, demo_config, T0):
    identity_ids = [members.get_identity(session, program.id, "sms", f"device-{i}", T0).id for i in range(THREADS)]
    session.commit()

    def sign_up(s: Session, i: int) -> int:
        identity = s.get(Identity, identity_ids[i])
        return members.join(s, s.get(Program, program.id), demo_config, identity, T0, phone="+15550004242", language="en").member.id

    results = all_at_once(sessions, sign_up)

    assert unexpected(results, Refused) == []
    assert {r.reason for r in results if isinstance(r, Refused)} == {"already_member"}
    created = [r for r in results if isinstance(r, int)]
    assert len(created) == 1
    assert session.scalars(select(Member.id)).all() == created
    assert session.scalar(select(func.sum(LedgerEntry.amount))) == 50  # one join bonus
    session.commit()


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_a_debit_does_not_wait_for_a_transaction_that_only_references_the_member(sessions, session, member_id, T0):
    """The deadlock of one member answering "yes" on SMS and on WhatsApp at once: each
    message wrote its identity row twice (PostgreSQL then checks the foreign key, taking
    KEY SHARE on the member) and then locked the member for the debit. The member's lock
    must not wait for KEY SHARE, or the two wait for each other."""
    identity_id = session.scalar(select(Identity.id).where(Identity.member_id == member_id))
    session.commit()
    with sessions() as other, sessions() as debiting:
        members.mark_seen(other, identity_id, T0)
        members.mark_seen(other, identity_id, T0)  # the second write checks the key: KEY SHARE
        debiting.execute(text("SET LOCAL lock_timeout = '10s'"))  # a failure says so instead of hanging
        assert ledger.lock_member(debiting, member_id).id == member_id
        debiting.rollback()
        other.rollback()


@both_databases
def test_fifty_concurrent_wrong_codes_on_one_key_get_exactly_the_limit_of_answers(sessions, session, program, T0):
    """The throttle's count and its insert are one step per actor: of 50 wrong guesses at
    once, exactly THROTTLE_LIMIT are answered "unknown", the rest "throttled"."""
    results = all_at_once(
        sessions, lambda s, i: redemption.use(s, program.id, f"ZZZZZZZZZZ{i:03d}", T0, "apikey:lk_guess").refused, threads=50,
    )

    assert unexpected(results) == []
    assert sorted(results) == ["throttled"] * (50 - redemption.THROTTLE_LIMIT) + ["unknown"] * redemption.THROTTLE_LIMIT
    assert session.scalar(select(func.count(CodeAttempt.id))) == redemption.THROTTLE_LIMIT
