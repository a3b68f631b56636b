"""Audiences: each filter selects the members it says, filters combine with AND, and a
wrong filter is refused naming it."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from campaign_helpers import add_identity, add_member
from sqlalchemy import select

from rewards import ledger, redemption
from rewards.errors import InvalidInput
from rewards.models import Member
from rewards.promotions import audiences

both_databases = pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def matching(session, program, demo_config, T0):  # type: ignore[no-untyped-def]
    """The members an audience (text or JSON) selects at ``at``, as a set of ids."""

    def _matching(raw, at: datetime = T0) -> set[int]:  # type: ignore[no-untyped-def]
        audience = audiences.check(raw, demo_config)
        condition = audiences.member_filter(audience, program.id, at, demo_config.timezone)
        return set(session.scalars(select(Member.id).where(condition)))

    return _matching


@both_databases
def test_all_is_every_live_member(session, join, matching, T0) -> None:  # type: ignore[no-untyped-def]
    a, b = add_member(session, join), add_member(session, join)
    gone = add_member(session, join, deleted_at=T0)
    assert matching("all") == matching({}) == matching(None) == matching({"all": True}) == {a.id, b.id}
    assert gone.id not in matching("all")


@both_databases
def test_tier_channel_and_language(session, join, matching) -> None:  # type: ignore[no-untyped-def]
    gold_tg = add_member(session, join, channel="telegram", address="tg-1", tier="Gold")
    gold_sms = add_member(session, join, channel="sms", tier="Gold", language="es")
    silver_tg = add_member(session, join, channel="telegram", address="tg-2", tier="Silver", language="es")
    bronze = add_member(session, join, channel="whatsapp")
    add_identity(session, bronze, "telegram", "tg-3")
    assert matching("tier=Gold") == {gold_tg.id, gold_sms.id}
    assert matching("tier=gold|Silver") == {gold_tg.id, gold_sms.id, silver_tg.id}
    assert matching("channel=telegram") == {gold_tg.id, silver_tg.id, bronze.id}
    assert matching({"channel": ["sms", "whatsapp"]}) == {gold_sms.id, bronze.id}
    assert matching("language=es") == {gold_sms.id, silver_tg.id}
    assert matching("tier=Gold,channel=telegram") == {gold_tg.id}  # AND
    assert matching({"tier": "Gold", "language": "es", "channel": "sms"}) == {gold_sms.id}


@both_databases
def test_inactive_days_counts_from_the_last_activity(session, join, matching, T0) -> None:  # type: ignore[no-untyped-def]
    idle = add_member(session, join, last_activity_at=T0 - timedelta(days=45))
    just = add_member(session, join, last_activity_at=T0 - timedelta(days=30))
    add_member(session, join, last_activity_at=T0 - timedelta(days=29, hours=23))
    assert matching("inactive_days=30") == {idle.id, just.id}
    assert matching("inactive_days=40") == {idle.id}


@both_databases
def test_birthday_month_by_number_or_name(session, join, matching) -> None:  # type: ignore[no-untyped-def]
    may = add_member(session, join, birthday=date(1990, 5, 14))
    add_member(session, join, birthday=date(1985, 6, 1))
    add_member(session, join)  # no birthday given
    assert matching("birthday_month=5") == matching("birthday_month=May") == matching({"birthday_month": 5}) == {may.id}


@both_databases
def test_min_balance_is_at_least(session, join, matching) -> None:  # type: ignore[no-untyped-def]
    rich = add_member(session, join, balance=1200)
    edge = add_member(session, join, balance=1000)
    add_member(session, join, balance=999)
    assert matching("min_balance=1000") == {rich.id, edge.id}


@both_databases
def test_joined_after_and_before_are_days_in_the_program_zone(session, join, matching) -> None:  # type: ignore[no-untyped-def]
    # 2026-01-01 00:30 in New York is 05:30 UTC; 04:30 UTC is still New Year's Eve there.
    new_year = add_member(session, join, joined_at=datetime.fromisoformat("2026-01-01T05:30:00+00:00"))
    eve = add_member(session, join, joined_at=datetime.fromisoformat("2026-01-01T04:30:00+00:00"))
    assert matching("joined_after=2026-01-01") == {new_year.id}
    assert matching("joined_before=2026-01-01") == {eve.id}
    assert matching("joined_after=2025-12-31,joined_before=2026-01-01") == {eve.id}


@both_databases
def test_has_redeemed_means_a_code_used_at_the_till(session, join, matching, configure, make_reward, reward_row, demo_config, program, T0) -> None:  # type: ignore[no-untyped-def]
    used, holder, never = add_member(session, join), add_member(session, join), add_member(session, join)
    for member in (used, holder):
        ledger.post(session, member, 600, "bonus", f"seed:{member.id}", "seed", T0)
        code = redemption.issue(session, demo_config, member, reward_row("free-coffee"), T0)
        if member is used:
            assert redemption.use(session, program.id, code.code, T0, "staff:test").refused is None
    assert matching("has_redeemed=true") == {used.id}
    assert matching({"has_redeemed": False}) == {holder.id, never.id}


@pytest.mark.parametrize(("raw", "message"), [
    ("tir=Gold", 'audience tir: is not a filter (filters: all, tier, channel, language, inactive_days, birthday_month, '
                 'min_balance, joined_after, joined_before, has_redeemed); did you mean "tier"?'),
    ("tier=Platinum", 'audience tier: "Platinum" is not one of Bronze, Silver, Gold'),
    ("channel=fax", 'audience channel: "fax" is not one of telegram, whatsapp, sms, web, terminal'),
    ("language=fr", 'audience language: "fr" is not one of en, es'),
    ("inactive_days=soon", "audience inactive_days: must be a whole number (digits 0-9), got 'soon'"),
    ("inactive_days=0", "audience inactive_days: must be 1 to 3,650, got 0"),
    ("inactive_days=800000", "audience inactive_days: must be 1 to 3,650, got 800,000"),
    ({"inactive_days": 800000}, "audience inactive_days: must be 1 to 3,650, got 800,000"),
    ("inactive_days=３０", "audience inactive_days: must be a whole number (digits 0-9), got '３０'"),
    ("birthday_month=13", "audience birthday_month: must be 1 to 12"),
    ("birthday_month=١٢", "audience birthday_month: must be a whole number (digits 0-9)"),
    ("min_balance=-5", "audience min_balance: must be 0 to 1,000,000,000, got -5"),
    ("min_balance=100000000000000000000000", "audience min_balance: must be 0 to 1,000,000,000, got 100,000"),
    ({"min_balance": 10**23}, "audience min_balance: must be 0 to 1,000,000,000, got 100,000"),
    ("min_balance=" + "9" * 5000, "audience min_balance: must be a whole number (digits 0-9)"),
    ("joined_after=yesterday", 'audience joined_after: must be a date like 2026-01-31, got "yesterday"'),
    ("joined_after=0001-01-01", "audience joined_after: must be from 1900-01-01 to 2199-12-31, got 0001-01-01"),
    ("joined_before=9999-12-31", "audience joined_before: must be from 1900-01-01 to 2199-12-31, got 9999-12-31"),
    ("has_redeemed=maybe", "audience has_redeemed: must be true or false, got 'maybe'"),
    ("all=true,tier=Gold", "audience all: cannot be combined with other filters"),
    ("tier=Gold,tier=Silver", "audience tier: is given twice"),
    ("tier", 'audience: "tier" should look like name=value'),
    ("joined_after=2026-02-01,joined_before=2026-01-01", "audience joined_before: 2026-01-01 is not after joined_after"),
    ({"tier": 3}, "audience tier: must be a name or a list of names"),
    (["tier"], "audience: must be an object of filters"),
])
def test_wrong_filters_are_refused_by_name(raw, message, demo_config) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as refused:
        audiences.check(raw, demo_config)
    assert str(refused.value).startswith(message)


def test_the_stored_form_reads_back_as_text(demo_config) -> None:  # type: ignore[no-untyped-def]
    checked = audiences.check(" tier = gold|Silver , inactive_days=30, has_redeemed=no ", demo_config)
    assert checked == {"tier": ["Gold", "Silver"], "inactive_days": 30, "has_redeemed": False}
    assert audiences.describe(checked) == "tier=Gold|Silver,inactive_days=30,has_redeemed=false"
    assert audiences.describe({}) == "all"
    assert audiences.check(audiences.describe(checked), demo_config) == checked


def test_a_channel_filter_narrows_the_channels_a_campaign_uses() -> None:
    assert audiences.channels_of({}, ["web", "telegram", "sms"]) == ["web", "telegram", "sms"]
    assert audiences.channels_of({"channel": ["sms", "whatsapp"]}, ["web", "telegram", "sms"]) == ["sms"]


@both_databases
def test_the_bounds_themselves_run_on_the_database(session, join, matching) -> None:  # type: ignore[no-untyped-def]
    member = add_member(session, join)
    assert matching({"min_balance": audiences.MAX_BALANCE, "inactive_days": audiences.MAX_INACTIVE_DAYS}) == set()
    assert matching("joined_after=1900-01-01,joined_before=2199-12-31") == {member.id}


@pytest.mark.parametrize(("stored", "message"), [
    ({"min_balance": 10**23}, "audience min_balance: must be 0 to 1,000,000,000"),
    ({"inactive_days": 800000}, "audience inactive_days: must be 1 to 3,650"),
    ({"joined_after": "9999-12-31"}, "audience joined_after: must be from 1900-01-01"),
    ({"tier": 5}, "audience tier: must be a list of names"),
    ("tier=Gold", "audience: must be an object of filters"),
])
def test_a_stored_audience_beyond_the_bounds_is_refused_by_name(stored, message, T0) -> None:  # type: ignore[no-untyped-def]
    """Written to the database around the checks (or before they existed): the query is
    refused naming the filter, instead of overflowing inside the driver or the calendar."""
    with pytest.raises(InvalidInput, match=message):
        audiences.member_filter(stored, 1, T0, "America/New_York")
