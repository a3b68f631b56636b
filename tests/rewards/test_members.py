"""Members and identity: finding a member as staff type them, phone numbers, joining,
one wallet across channels, birthdays, data export and deletion."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from rewards import codes, earning, ledger, members, redemption
from rewards.errors import InvalidInput, NotFound, Refused
from rewards.models import Code, Identity, LedgerEntry, Member, Referral
from rewards.phones import mask, parse_phone

DAY = timedelta(days=1)
# The tests whose SQL leans on dates, sums and locks run on both databases.
both_databases = pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)


# --- finding ----------------------------------------------------------------------------


def test_staff_find_a_member_by_phone_however_it_is_written(session, join, program):
    member = join("+15550001234")
    for typed in ("+15550001234", " +1 (555) 000-1234 ", "+1 555 000 1234", "+1-555-000-1234"):
        assert members.find(session, program.id, typed).id == member.id


def test_staff_find_a_member_by_member_code_in_any_case(session, join, program):
    member = join()
    for typed in (member.code, member.code.lower(), codes.display(member.code), f" {codes.display(member.code).lower()} "):
        assert members.find(session, program.id, typed).id == member.id


def test_an_unknown_phone_or_code_is_not_found(session, join, program):
    join()
    for typed in ("+15559999999", "ZZZZZZZZ", "nobody", ""):
        with pytest.raises(NotFound) as refused:
            members.find(session, program.id, typed)
        assert refused.value.reason == "unknown_member"


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [("+15550001234", None, "+15550001234"), ("whatsapp:+447700900123", None, "+447700900123"),
     ("(555) 000-1234", "US", "+15550001234"), ("+34 612 34 56 78", None, "+34612345678")],
)
def test_phone_numbers_are_kept_in_e164(typed, region, e164):
    assert parse_phone(typed, region) == e164


@pytest.mark.parametrize(
    ("typed", "region"),
    [("5550001234", None), ("hello", None), ("+1 555", None), ("+1555000123456789", None), ("", None), ("+", "US")],
)
def test_a_phone_number_that_cannot_be_one_is_refused(typed, region):
    with pytest.raises(InvalidInput) as refused:
        parse_phone(typed, region)
    assert refused.value.reason == "bad_phone"


def test_a_mistyped_phone_from_staff_is_refused_not_searched(session, join, program):
    join()
    with pytest.raises(InvalidInput) as refused:
        members.find(session, program.id, "+1 555 000 1234 5678")
    assert refused.value.reason == "bad_phone"


def test_logs_see_a_masked_phone():
    assert mask("+15550001234") == "+15*******34"
    assert mask(None) == "-"


# --- joining ----------------------------------------------------------------------------


def test_joining_creates_a_member_in_the_lowest_tier_with_the_join_bonus(
    session, program, configure, make_tier, entries, T0
):
    config = configure(tiers=[make_tier("Gold", 1000, "1.5"), make_tier("Bronze", 0), make_tier("Silver", 500)])
    identity = members.get_identity(session, program.id, "telegram", "chat-1", T0)
    joined = members.join(session, program, config, identity, T0, phone="+15550001234", language="es", name="Lucía")
    session.commit()

    member = session.get(Member, joined.member.id)
    assert (member.phone, member.name, member.language, member.joined_at, member.balance) == (
        "+15550001234", "Lucía", "es", T0, 50)
    assert member.tier.name == "Bronze"
    assert len(member.code) == codes.MEMBER_LENGTH and set(member.code) <= set(codes.ALPHABET)
    assert session.get(Identity, identity.id).member_id == member.id
    assert entries(member) == [("join", 50)]
    assert joined.events[0].points == 50 and joined.events[0].reason == "join"


def test_joining_twice_is_refused(session, join, program, demo_config, T0):
    member = join("+15550001234")
    identity = members.get_identity(session, program.id, "terminal", "+15550001234", T0)
    with pytest.raises(Refused) as again:
        members.join(session, program, demo_config, identity, T0, phone="+15550001234", language="en")
    assert again.value.reason == "already_member"

    elsewhere = members.get_identity(session, program.id, "sms", "+15550001234", T0)
    with pytest.raises(Refused) as same_phone:
        members.join(session, program, demo_config, elsewhere, T0, phone="+15550001234", language="en")
    assert same_phone.value.reason == "already_member"
    assert session.scalar(select(func.count(Member.id))) == 1 and member.balance == 50


def test_member_codes_are_distinct(session, join):
    assert len({join().code for _ in range(30)}) == 30


def test_a_second_channel_with_the_same_phone_reaches_the_same_wallet(session, join, program, demo_config, T0):
    member = join("+15550001234", channel="telegram", address="chat-77")
    whatsapp = members.get_identity(session, program.id, "whatsapp", "whatsapp:+15550001234", T0 + DAY)
    assert whatsapp.member_id is None

    assert members.link_phone(session, whatsapp, "+15550001234").id == member.id
    session.commit()

    linked = session.scalars(select(Identity).where(Identity.member_id == member.id).order_by(Identity.id)).all()
    assert [(i.channel, i.address) for i in linked] == [("telegram", "chat-77"), ("whatsapp", "whatsapp:+15550001234")]
    earning.record_purchase(session, program, demo_config, whatsapp.member, "10.00", "R-1", T0 + DAY)
    session.commit()
    assert session.get(Identity, linked[0].id).member.balance == 150


def test_a_phone_nobody_has_links_nothing(session, join, program, T0):
    join("+15550001234")
    sms = members.get_identity(session, program.id, "sms", "+15550009999", T0)
    assert members.link_phone(session, sms, "+15550009999") is None
    assert sms.member_id is None


def test_an_identity_is_created_on_first_contact_and_remembered(session, program, T0):
    first = members.get_identity(session, program.id, "telegram", "chat-1", T0)
    again = members.get_identity(session, program.id, "telegram", "chat-1", T0 + DAY)
    assert again.id == first.id and (again.first_seen_at, again.last_seen_at) == (T0, T0 + DAY)
    assert members.get_identity(session, program.id, "sms", "chat-1", T0).id != first.id
    session.commit()
    session.expire_all()  # what the rows hold, not what the session remembers
    assert session.get(Identity, first.id).last_seen_at == T0 + DAY


def test_writing_again_makes_an_unreachable_address_reachable(session, program, T0):
    identity = members.get_identity(session, program.id, "telegram", "chat-1", T0)
    members.mark_unreachable(session, program.id, "telegram", "chat-1", "bot was blocked by the user", T0)
    session.commit()
    session.expire_all()
    assert session.get(Identity, identity.id).unreachable_at == T0
    again = members.get_identity(session, program.id, "telegram", "chat-1", T0 + DAY)
    assert (again.unreachable_at, again.unreachable_reason) == (None, None)
    session.commit()
    session.expire_all()
    assert (session.get(Identity, identity.id).unreachable_at, session.get(Identity, identity.id).unreachable_reason) == (None, None)


def test_activity_is_written_to_the_member_row(session, join, T0):
    member = join()
    members.record_activity(session, member, T0 + DAY, "UTC")
    assert member.last_activity_at == T0 + DAY
    session.commit()
    session.expire_all()
    assert session.get(Member, member.id).last_activity_at == T0 + DAY


# --- birthdays ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "day"),
    [
        ("1990-05-14", date(1990, 5, 14)),
        ("14/05/1990", date(1990, 5, 14)),
        ("14.05.1990", date(1990, 5, 14)),
        ("14-05-1990", date(1990, 5, 14)),
        ("14.05.90", date(1990, 5, 14)),
        ("3/7/05", date(2005, 7, 3)),
        (" 14/05 ", date(2000, 5, 14)),  # no year: the day and month are what matter
        ("29/02", date(2000, 2, 29)),
    ],
)
def test_a_birthday_is_read_day_first_in_common_formats(typed, day, T0):
    member = Member()
    assert members.set_birthday(member, typed, T0) == day
    assert member.birthday == day


@pytest.mark.parametrize(
    "typed",
    ["31/02/1990", "14/13/1990", "1899-12-31", "03/03/2026", "2030-01-01", "hello", "", "14/05/1990/1", "May 14", "14//05"],
)
def test_a_birthday_that_is_not_a_real_past_date_is_refused(typed, T0):
    member = Member(birthday=date(1990, 5, 14))
    with pytest.raises(InvalidInput) as refused:
        members.set_birthday(member, typed, T0)
    assert refused.value.reason == "bad_birthday"
    assert member.birthday == date(1990, 5, 14)


def test_a_birthday_is_kept_with_the_member(session, join, T0):
    member = join()
    members.set_birthday(member, "14.05.90", T0)
    session.commit()
    assert session.get(Member, member.id, populate_existing=True).birthday == date(1990, 5, 14)


# --- export and deletion --------------------------------------------------------------------


@pytest.fixture
def customer(session, join, program, configure, make_reward, reward_row, T0):  # type: ignore[no-untyped-def]
    """Lucía: 50 for joining, 1000 for a purchase; one code used, one still open. Balance 450."""
    config = configure(rewards=[make_reward("coffee", cost=500), make_reward("mug", cost=100)])
    member = join("+15550001234", config=config, name="Lucía", channel="telegram", address="chat-77")
    members.link_phone(session, members.get_identity(session, program.id, "sms", "+15550001234", T0), "+15550001234")
    members.set_birthday(member, "14/05/1990", T0)
    earning.record_purchase(session, program, config, member, "100.00", "R-1", T0)
    used = redemption.issue(session, config, member, reward_row("mug"), T0)
    redemption.use(session, program.id, used.code, T0, "till-1")
    redemption.issue(session, config, member, reward_row("coffee"), T0)
    session.commit()
    assert member.balance == 450
    return member


@both_databases
def test_export_holds_everything_we_keep_about_the_member(session, customer):
    data = members.export(session, customer)
    json.dumps(data)  # plain data, ready to send

    assert (data["member_code"], data["phone"], data["name"], data["birthday"], data["balance"]) == (
        customer.code, "+15550001234", "Lucía", "1990-05-14", 450)
    assert data["channels"] == [{"channel": "telegram", "address": "chat-77"}, {"channel": "sms", "address": "+15550001234"}]
    assert [(p["receipt_id"], p["amount_minor"], p["points"], p["refunded"]) for p in data["purchases"]] == [
        ("R-1", 10000, 1000, False)]
    assert [(c["reward"], c["status"]) for c in data["codes"]] == [("Mug", "redeemed"), ("Coffee", "issued")]
    assert [(e["kind"], e["points"]) for e in data["ledger"]] == [
        ("join", 50), ("purchase", 1000), ("redeem", -100), ("redeem", -500)]
    assert sum(e["points"] for e in data["ledger"]) == data["balance"]


@both_databases
def test_deleting_erases_personal_data_forfeits_the_balance_and_cancels_open_codes(session, customer, program, T0):
    open_code = session.scalar(select(Code).where(Code.member_id == customer.id, Code.status == "issued"))
    entries_before = session.scalar(select(func.count(LedgerEntry.id)))

    forfeited = members.delete_member(session, customer, T0 + DAY)
    session.commit()

    assert forfeited == 450
    gone = session.get(Member, customer.id)
    assert (gone.phone, gone.name, gone.birthday, gone.marketing_consent, gone.deleted_at, gone.balance) == (
        None, None, None, False, T0 + DAY, 0)
    assert session.scalar(select(Identity).where(Identity.member_id == customer.id)) is None
    assert sorted(session.scalars(select(Code.status).where(Code.member_id == customer.id))) == ["cancelled", "redeemed"]
    # The ledger keeps its amounts: one more entry, the forfeit.
    assert session.scalar(select(func.count(LedgerEntry.id))) == entries_before + 1
    forfeit = session.scalar(select(LedgerEntry).where(LedgerEntry.kind == "forfeit"))
    assert (forfeit.amount, forfeit.member_id) == (-450, customer.id)
    report = ledger.audit(session)
    assert report.ok and report.expired == 450

    assert redemption.use(session, program.id, open_code.code, T0 + DAY, "till-1").refused == "cancelled"
    with pytest.raises(NotFound):
        members.find(session, program.id, "+15550001234")
    with pytest.raises(NotFound):
        members.find(session, program.id, customer.code)


def test_the_same_phone_may_join_again_as_a_new_member_after_deletion_without_a_second_welcome_bonus(
        session, customer, join, program, T0):
    members.delete_member(session, customer, T0)
    again = join("+15550001234", channel="whatsapp", address="+15550001234")
    session.commit()
    assert again.id != customer.id and again.code != customer.code
    # The welcome bonus is for first-time members: delete, rejoin, spend, repeat pays nothing.
    assert again.balance == 0
    assert session.scalar(select(LedgerEntry).where(LedgerEntry.member_id == again.id)) is None


def test_the_same_chat_joining_again_without_a_phone_gets_no_second_welcome_bonus(session, customer, join, T0):
    members.delete_member(session, customer, T0)
    again = join(None, channel="telegram", address="chat-77")
    session.commit()
    assert again.balance == 0


def test_a_new_phone_still_gets_the_welcome_bonus_after_someone_else_deleted(session, customer, join, T0):
    members.delete_member(session, customer, T0)
    assert join("+15550009876", channel="whatsapp", address="+15550009876").balance == 50


def test_deleting_a_member_who_owes_points_forfeits_nothing(session, join, program, demo_config, T0):
    member = join()
    earning.record_purchase(session, program, demo_config, member, "10.00", "R-1", T0)
    earning.adjust(session, member, -150, "spent at the old till", "adjust:1", T0, "staff:ana")
    earning.refund(session, program, demo_config, "R-1", T0)
    assert member.balance == -100
    assert members.delete_member(session, member, T0) == 0
    session.commit()
    assert session.get(Member, member.id).balance == -100


def test_a_deleted_referee_keeps_no_address_in_the_referral(session, join, program, demo_config, T0):
    from rewards import referrals

    referrer = join()
    identity = members.get_identity(session, program.id, "telegram", "chat-5", T0)
    referrals.record_invite(session, demo_config, identity, referrer.code, T0)
    friend = members.join(session, program, demo_config, identity, T0, phone="+15550005555", language="en").member
    members.delete_member(session, friend, T0)
    session.commit()
    referral = session.scalar(select(Referral))
    assert referral.address == f"erased:{referral.id}"
