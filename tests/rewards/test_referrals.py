"""Referrals: an invite is recorded, joining attaches it, the first qualifying
purchase (or the join, by the program file) pays both sides once; what the rules refuse,
and why; what a referrer sees."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from rewards import earning, members, referrals
from rewards.events import ReferralQualified, ReferralReversed
from rewards.models import LedgerEntry, Member, Program, Referral

DAY = timedelta(days=1)
# The tests whose SQL leans on dates, sums and locks run on both databases.
both_databases = pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def referrer(session, join):  # type: ignore[no-untyped-def]
    member = join(name="Ana")
    session.commit()
    return member


@pytest.fixture
def newcomer(session, program, T0):  # type: ignore[no-untyped-def]
    """A first contact on Telegram, not a member yet."""
    addresses = iter(range(1001, 2000))

    def _newcomer(now=T0, channel="telegram"):  # type: ignore[no-untyped-def]
        return members.get_identity(session, program.id, channel, f"chat-{next(addresses)}", now)

    return _newcomer


@pytest.fixture
def sign_up(session, program, demo_config):  # type: ignore[no-untyped-def]
    phones = iter(range(1, 1000))

    def _sign_up(identity, now, config=demo_config):  # type: ignore[no-untyped-def]
        return members.join(
            session, session.get(Program, program.id), config, identity, now,
            phone=f"+1555020{next(phones):04d}", language="en",
        )

    return _sign_up


def referral_of(session, identity):  # type: ignore[no-untyped-def]
    return session.scalar(select(Referral).where(Referral.address == identity.address))


def referral_points(session, member):  # type: ignore[no-untyped-def]
    return session.execute(
        select(LedgerEntry.amount, LedgerEntry.idempotency_key)
        .where(LedgerEntry.member_id == member.id, LedgerEntry.kind == "referral")
    ).all()


def test_an_invite_is_recorded_and_joining_attaches_it(session, referrer, newcomer, sign_up, demo_config, T0):
    friend = newcomer()
    invite = referrals.record_invite(session, demo_config, friend, referrer.code.lower(), T0)
    session.commit()
    assert (invite.accepted, invite.reason, invite.referrer.id) == (True, None, referrer.id)
    referral = referral_of(session, friend)
    assert (referral.referrer_id, referral.referee_id, referral.status, referral.created_at) == (
        referrer.id, None, "invited", T0)

    joined = sign_up(friend, T0 + DAY)
    session.commit()
    assert joined.referral.accepted and joined.referral.referrer.id == referrer.id
    referral = referral_of(session, friend)
    assert (referral.referee_id, referral.status, referral.joined_at) == (joined.member.id, "joined", T0 + DAY)
    # Not paid at sign-up: the program pays on the first qualifying purchase.
    assert referral_points(session, referrer) == [] and referral_points(session, joined.member) == []


@both_databases
def test_the_first_qualifying_purchase_pays_both_sides_once(session, referrer, newcomer, sign_up, program, demo_config, T0):
    friend = newcomer()
    referrals.record_invite(session, demo_config, friend, referrer.code, T0)
    member = sign_up(friend, T0).member

    first = earning.record_purchase(session, program, demo_config, member, "5.00", "R-1", T0 + DAY)
    second = earning.record_purchase(session, program, demo_config, member, "50.00", "R-2", T0 + 2 * DAY)
    session.commit()

    referral = referral_of(session, friend)
    assert (referral.status, referral.qualified_at) == ("qualified", T0 + DAY)
    assert ReferralQualified(referrer.id, 200, False) in first.events
    assert ReferralQualified(member.id, 100, True) in first.events
    assert not any(isinstance(e, ReferralQualified) for e in second.events)
    assert referral_points(session, referrer) == [(200, f"referral:{referral.id}:referrer")]
    assert referral_points(session, member) == [(100, f"referral:{referral.id}:referee")]
    assert session.get(Member, referrer.id).balance == 50 + 200
    assert member.balance == 50 + 50 + 100 + 500


def test_a_purchase_below_the_minimum_does_not_qualify(session, referrer, newcomer, sign_up, program, demo_config, T0):
    friend = newcomer()
    referrals.record_invite(session, demo_config, friend, referrer.code, T0)
    member = sign_up(friend, T0).member

    small = earning.record_purchase(session, program, demo_config, member, "4.99", "R-1", T0)
    assert referral_of(session, friend).status == "joined"
    assert referral_points(session, referrer) == []
    assert not any(isinstance(e, ReferralQualified) for e in small.events)

    earning.record_purchase(session, program, demo_config, member, "5.00", "R-2", T0)
    session.commit()
    assert referral_of(session, friend).status == "qualified"
    assert [p for p, _ in referral_points(session, referrer)] == [200]


def test_a_purchase_after_refunding_the_qualifying_one_pays_nothing_more(session, referrer, newcomer, sign_up, program, demo_config, T0):
    friend = newcomer()
    referrals.record_invite(session, demo_config, friend, referrer.code, T0)
    member = sign_up(friend, T0).member
    earning.record_purchase(session, program, demo_config, member, "10.00", "R-1", T0)
    earning.refund(session, program, demo_config, "R-1", T0)
    earning.record_purchase(session, program, demo_config, member, "10.00", "R-2", T0)
    session.commit()
    assert [p for p, _ in referral_points(session, referrer)] == [200]


def test_a_program_may_pay_at_join(session, referrer, newcomer, sign_up, configure, program, T0):
    config = configure(referrals={"qualify_on": "join"})
    friend = newcomer()
    referrals.record_invite(session, config, friend, referrer.code, T0)

    joined = sign_up(friend, T0, config)
    later = earning.record_purchase(session, program, config, joined.member, "20.00", "R-1", T0)
    session.commit()

    assert ReferralQualified(referrer.id, 200, False) in joined.events
    assert ReferralQualified(joined.member.id, 100, True) in joined.events
    assert referral_of(session, friend).status == "qualified"
    assert not any(isinstance(e, ReferralQualified) for e in later.events)
    assert [p for p, _ in referral_points(session, referrer)] == [200]
    assert joined.member.balance == 50 + 100 + 200


def test_joining_without_an_invite_is_no_referral(session, newcomer, sign_up, T0):
    joined = sign_up(newcomer(), T0)
    assert joined.referral is None
    assert session.scalar(select(Referral)) is None


# --- refusals ----------------------------------------------------------------------------


def test_an_unknown_code_is_refused(session, referrer, newcomer, demo_config, T0):
    result = referrals.record_invite(session, demo_config, newcomer(), "ZZZZ-ZZZZ", T0)
    assert (result.accepted, result.reason, result.referrer) == (False, "unknown_code", None)
    assert session.scalar(select(Referral)) is None


def test_a_member_using_their_own_code_is_refused(session, referrer, program, demo_config, T0):
    own_identity = members.get_identity(session, program.id, "terminal", referrer.phone, T0)
    assert own_identity.member_id == referrer.id
    result = referrals.record_invite(session, demo_config, own_identity, referrer.code, T0)
    assert (result.accepted, result.reason) == (False, "self_referral")
    assert session.scalar(select(Referral)) is None


def test_own_code_from_a_new_channel_with_the_members_phone_is_self_referral(session, referrer, newcomer, demo_config, T0):
    result = referrals.record_invite(session, demo_config, newcomer(channel="whatsapp"), referrer.code, T0, phone=referrer.phone)
    assert (result.accepted, result.reason) == (False, "self_referral")


def test_someone_already_a_member_is_refused(session, referrer, join, newcomer, program, demo_config, T0):
    other = join()
    identity = members.get_identity(session, program.id, "terminal", other.phone, T0)
    result = referrals.record_invite(session, demo_config, identity, referrer.code, T0)
    assert (result.accepted, result.reason) == (False, "already_member")

    # The same person on a channel they never used, recognised by phone.
    by_phone = referrals.record_invite(session, demo_config, newcomer(channel="sms"), referrer.code, T0, phone=other.phone)
    assert (by_phone.accepted, by_phone.reason) == (False, "already_member")
    assert session.scalar(select(Referral)) is None


def test_a_second_referrer_is_refused_and_the_first_stands(session, referrer, join, newcomer, sign_up, demo_config, T0):
    rival = join()
    friend = newcomer()
    referrals.record_invite(session, demo_config, friend, referrer.code, T0)

    second = referrals.record_invite(session, demo_config, friend, rival.code, T0 + DAY)
    repeat = referrals.record_invite(session, demo_config, friend, referrer.code, T0 + DAY)

    assert (second.accepted, second.reason, second.referrer.id) == (False, "second_referrer", referrer.id)
    assert (repeat.accepted, repeat.reason) == (True, None)
    assert session.scalars(select(Referral.referrer_id)).all() == [referrer.id]
    sign_up(friend, T0 + DAY)
    assert referral_of(session, friend).referrer_id == referrer.id


def _ny(*args: int) -> datetime:
    """A New York wall-clock time (EDT, UTC-4, in these tests' spring dates) as UTC."""
    return datetime(*args, tzinfo=UTC) + timedelta(hours=4)


@both_databases
def test_a_referrer_over_the_monthly_cap_is_refused_until_the_next_calendar_month(
    session, referrer, newcomer, sign_up, configure
):
    config = configure(referrals={"max_per_month": 2})
    for when in (_ny(2026, 3, 10, 12, 0), _ny(2026, 3, 31, 23, 30)):  # the second is 1 April in UTC
        friend = newcomer(when)
        assert referrals.record_invite(session, config, friend, referrer.code, when).accepted
        assert sign_up(friend, when, config).referral.accepted

    late_march = _ny(2026, 3, 31, 23, 45)
    capped = referrals.record_invite(session, config, newcomer(late_march), referrer.code, late_march)
    assert (capped.accepted, capped.reason) == (False, "cap_reached")

    april = _ny(2026, 4, 1, 0, 15)
    friend = newcomer(april)
    assert referrals.record_invite(session, config, friend, referrer.code, april).accepted
    assert sign_up(friend, april, config).referral.accepted
    session.commit()
    assert referrals.stats(session, referrer).joined == 3


def test_an_invite_made_under_the_cap_is_refused_at_join_if_the_cap_filled_meanwhile(
    session, referrer, newcomer, sign_up, configure, T0
):
    config = configure(referrals={"max_per_month": 1})
    early, quick = newcomer(), newcomer()
    referrals.record_invite(session, config, early, referrer.code, T0)
    referrals.record_invite(session, config, quick, referrer.code, T0)
    assert sign_up(quick, T0, config).referral.accepted

    late = sign_up(early, T0 + DAY, config)
    assert (late.referral.accepted, late.referral.reason) == (False, "cap_reached")
    assert referral_of(session, early).referee_id is None
    assert referral_points(session, late.member) == []


# --- what a referrer sees ------------------------------------------------------------------


@both_databases
def test_stats_count_invited_joined_qualified_and_points(session, referrer, newcomer, sign_up, program, demo_config, T0):
    only_invited, only_joined, qualified = newcomer(), newcomer(), newcomer()
    for identity in (only_invited, only_joined, qualified):
        referrals.record_invite(session, demo_config, identity, referrer.code, T0)
    sign_up(only_joined, T0)
    buyer = sign_up(qualified, T0).member
    earning.record_purchase(session, program, demo_config, buyer, "12.00", "R-1", T0)
    session.commit()

    assert referrals.stats(session, referrer) == referrals.ReferralStats(invited=3, joined=2, qualified=1, points=200)
    assert referrals.stats(session, buyer) == referrals.ReferralStats(0, 0, 0, 0)


# --- refunds and deleted members ------------------------------------------------------


@both_databases
def test_refunding_the_qualifying_purchase_reverses_both_bonuses(session, referrer, newcomer, sign_up, program,
                                                                demo_config, T0):
    friend = newcomer()
    referrals.record_invite(session, demo_config, friend, referrer.code, T0)
    member = sign_up(friend, T0).member
    earning.record_purchase(session, program, demo_config, member, "10.00", "R-1", T0)
    redeemable = member.balance
    refund = earning.refund(session, program, demo_config, "R-1", T0 + DAY)
    session.commit()

    referral = referral_of(session, friend)
    assert (referral.status, referral.reversed_at) == ("reversed", T0 + DAY)
    reversals = session.execute(
        select(LedgerEntry.member_id, LedgerEntry.amount, LedgerEntry.idempotency_key)
        .where(LedgerEntry.referral_id == referral.id, LedgerEntry.kind == "reversal").order_by(LedgerEntry.id)
    ).all()
    assert reversals == [(referrer.id, -200, f"referral-reversal:{referral.id}:referrer"),
                         (member.id, -100, f"referral-reversal:{referral.id}:referee")]
    assert session.get(Member, referrer.id).balance == 50
    assert member.balance == redeemable - 100 - 100 == 50  # the purchase's points and the friend's bonus
    assert ReferralReversed(referrer.id, 200, 50, False) in refund.events
    assert ReferralReversed(member.id, 100, 50, True) in refund.events
    assert referrals.stats(session, session.get(Member, referrer.id)).points == 0


def test_a_bonus_already_spent_is_still_taken_back(session, referrer, newcomer, sign_up, program, demo_config, T0):
    friend = newcomer()
    referrals.record_invite(session, demo_config, friend, referrer.code, T0)
    member = sign_up(friend, T0).member
    earning.record_purchase(session, program, demo_config, member, "10.00", "R-1", T0)
    referrer_row = session.get(Member, referrer.id)
    earning.adjust(session, referrer_row, -250, "spent at the till", "adjust:spend", T0, "staff:ana")
    earning.refund(session, program, demo_config, "R-1", T0)
    session.commit()
    assert session.get(Member, referrer.id).balance == -200  # below zero, only through a reversal


def test_a_deleted_members_phone_cannot_be_referred_again(session, referrer, newcomer, program, demo_config, T0):
    friend = newcomer(channel="whatsapp")
    referrals.record_invite(session, demo_config, friend, referrer.code, T0, phone="+15550203333")
    member = members.join(session, program, demo_config, friend, T0, phone="+15550203333", language="en").member
    earning.record_purchase(session, program, demo_config, member, "10.00", "R-1", T0)
    members.delete_member(session, member, T0 + DAY)
    session.commit()

    # The same phone, on another channel, with the same code: refused, and joining pays nothing.
    again = members.get_identity(session, program.id, "sms", "+15550203333", T0 + 2 * DAY)
    invite = referrals.record_invite(session, demo_config, again, referrer.code, T0 + 2 * DAY, phone="+15550203333")
    assert (invite.accepted, invite.reason) == (False, "returning_member")
    joined = members.join(session, program, demo_config, again, T0 + 2 * DAY, phone="+15550203333", language="en")
    earning.record_purchase(session, program, demo_config, joined.member, "10.00", "R-2", T0 + 2 * DAY)
    session.commit()
    assert joined.returning and joined.referral is None and joined.member.balance == 100
    assert [p for p, _ in referral_points(session, referrer)] == [200]  # the first friend's, only
    # The phone itself is not kept: only a keyed hash of it.
    from rewards.models import ErasedContact

    hashes = list(session.scalars(select(ErasedContact.contact_hash)))
    assert hashes and not any("5550203333" in h for h in hashes)


def test_an_invite_recorded_before_joining_is_not_paid_to_a_returning_chat(session, referrer, program, demo_config, T0):
    first = members.get_identity(session, program.id, "telegram", "chat-42", T0)
    gone = members.join(session, program, demo_config, first, T0, phone=None, language="en").member
    members.delete_member(session, gone, T0)
    session.commit()
    back = members.get_identity(session, program.id, "telegram", "chat-42", T0 + DAY)
    referrals.record_invite(session, demo_config, back, referrer.code, T0 + DAY)
    joined = members.join(session, program, demo_config, back, T0 + DAY, phone=None, language="en")
    earning.record_purchase(session, program, demo_config, joined.member, "10.00", "R-1", T0 + DAY)
    session.commit()
    assert joined.returning and joined.member.balance == 100 and referral_points(session, referrer) == []
