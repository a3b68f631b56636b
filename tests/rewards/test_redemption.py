"""Rewards and redemption: issuing a code debits its cost, all or nothing; the
catalog's rules (tier, stock, per-member limit, dates); a code is used once, ever; wrong
guesses are throttled per actor; typing is forgiving; unused codes expire and give the
points back; codes are unguessable and their QR scans back to the text."""
from __future__ import annotations

import io
import math
from datetime import UTC, date, datetime, timedelta

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select
from support import outstanding

from rewards import codes, earning, ledger, qr, redemption
from rewards.errors import InsufficientPoints, Refused
from rewards.models import Code, CodeAttempt, LedgerEntry, Member, Reward

DAY = timedelta(days=1)
# The tests whose SQL leans on dates, sums and locks run on both databases.
both_databases = pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def shop(configure, make_reward, make_tier):  # type: ignore[no-untyped-def]
    """A catalog with one reward per rule under test."""
    return configure(
        tiers=[make_tier("Bronze", 0), make_tier("Gold", 1000, "1.5")],
        rewards=[
            make_reward("coffee", cost=500, code_valid_days=30),
            make_reward("cake", cost=300, stock=2),
            make_reward("mug", cost=100, per_member_limit=1),
            make_reward("lounge", cost=100, min_tier="Gold"),
            make_reward("spring", cost=100, valid_from=date(2026, 3, 20), valid_until=date(2026, 6, 20)),
            make_reward("winter", cost=100, valid_until=date(2026, 3, 2)),
        ],
    )


@pytest.fixture
def rich(session, join, shop, program, T0):  # type: ignore[no-untyped-def]
    """A member with 1050 points: 50 for joining, 1000 for a 100.00 purchase (which makes them Gold)."""
    member = join(config=shop)
    earning.record_purchase(session, program, shop, member, "100.00", "R-rich", T0)
    session.commit()
    assert member.balance == 1050
    return member


def codes_of(session, member):  # type: ignore[no-untyped-def]
    return list(session.scalars(select(Code).where(Code.member_id == member.id).order_by(Code.id)))


def ledger_count(session):  # type: ignore[no-untyped-def]
    return session.scalar(select(func.count(LedgerEntry.id)))


# --- issuing ----------------------------------------------------------------------------


@both_databases
def test_issuing_debits_the_cost_and_creates_a_single_use_code(session, rich, shop, reward_row, T0):
    code = redemption.issue(session, shop, rich, reward_row("coffee"), T0)
    session.commit()

    assert len(code.code) == 13 and set(code.code) <= set(codes.ALPHABET)
    stored = session.get(Code, code.id)
    assert (stored.status, stored.cost, stored.member_id, stored.issued_at, stored.expires_at) == (
        "issued", 500, rich.id, T0, T0 + 30 * DAY)
    assert session.get(Member, rich.id).balance == 550
    entry = session.scalar(select(LedgerEntry).where(LedgerEntry.code_id == code.id))
    assert (entry.kind, entry.amount, entry.idempotency_key) == ("redeem", -500, f"code:{code.id}")
    assert outstanding(session, rich.id, T0) == [stored]


def test_not_enough_points_is_refused_and_nothing_changes(session, join, shop, reward_row, T0):
    member = join(config=shop)  # 50 points
    session.commit()
    entries_before = ledger_count(session)

    with pytest.raises(InsufficientPoints) as refused:
        redemption.issue(session, shop, member, reward_row("cake"), T0)
    session.commit()

    assert refused.value.details == {"needed": 300, "available": 50}
    assert codes_of(session, member) == []
    assert session.get(Reward, reward_row("cake").id).stock == 2
    assert ledger_count(session) == entries_before
    assert session.get(Member, member.id).balance == 50


def test_a_tier_restricted_reward_needs_the_tier(session, join, shop, reward_row, program, T0):
    member = join(config=shop)
    ledger.post(session, member, 5000, "bonus", "bonus:big", "bonus points do not make a tier", T0)

    with pytest.raises(Refused) as refused:
        redemption.issue(session, shop, member, reward_row("lounge"), T0)
    assert refused.value.reason == "tier"
    assert codes_of(session, member) == []

    earning.record_purchase(session, program, shop, member, "100.00", "R-1", T0)
    assert redemption.issue(session, shop, member, reward_row("lounge"), T0).status == "issued"
    session.commit()


def test_stock_goes_down_with_each_code_and_runs_out(session, rich, join, shop, reward_row, T0):
    cake = reward_row("cake")
    redemption.issue(session, shop, rich, cake, T0)
    assert session.get(Reward, cake.id).stock == 1
    redemption.issue(session, shop, rich, cake, T0)
    session.commit()
    assert session.get(Reward, cake.id).stock == 0

    with pytest.raises(Refused) as refused:
        redemption.issue(session, shop, rich, cake, T0)
    session.commit()
    assert refused.value.reason == "stock"
    assert rich.balance == 1050 - 600
    assert len(codes_of(session, rich)) == 2


def test_a_member_may_hold_no_more_codes_than_the_limit(session, rich, join, shop, reward_row, program, T0):
    mug = reward_row("mug")
    first = redemption.issue(session, shop, rich, mug, T0)
    with pytest.raises(Refused) as refused:
        redemption.issue(session, shop, rich, mug, T0)
    assert refused.value.reason == "limit"
    redemption.use(session, program.id, first.code, T0, "till-1")
    with pytest.raises(Refused):  # a used code still counts
        redemption.issue(session, shop, rich, mug, T0)
    session.commit()
    assert rich.balance == 950

    other = join(config=shop)
    ledger.post(session, other, 100, "bonus", "bonus:o", "bonus", T0)
    assert redemption.issue(session, shop, other, mug, T0).status == "issued"  # the limit is per member
    session.commit()


def test_an_expired_code_no_longer_counts_toward_the_limit(session, rich, shop, reward_row, program, T0):
    redemption.issue(session, shop, rich, reward_row("mug"), T0)
    redemption.expire_codes(session, program.id, T0 + 31 * DAY)
    assert redemption.issue(session, shop, rich, reward_row("mug"), T0 + 31 * DAY).status == "issued"
    session.commit()


@both_databases
def test_a_reward_is_offered_only_between_its_dates_in_the_programs_time_zone(session, rich, shop, reward_row, T0):
    spring = reward_row("spring")
    with pytest.raises(Refused) as early:
        redemption.issue(session, shop, rich, spring, T0)
    assert early.value.reason == "dates"
    assert redemption.issue(session, shop, rich, spring, datetime(2026, 3, 20, 4, 0, tzinfo=UTC)).status == "issued"
    # 01:00 UTC on 21 June is still 20 June in New York: the last day.
    assert redemption.issue(session, shop, rich, spring, datetime(2026, 6, 21, 1, 0, tzinfo=UTC)).status == "issued"
    with pytest.raises(Refused):
        redemption.issue(session, shop, rich, spring, datetime(2026, 6, 21, 5, 0, tzinfo=UTC))

    winter = reward_row("winter")  # its last day is today
    assert redemption.issue(session, shop, rich, winter, T0).status == "issued"
    with pytest.raises(Refused) as late:
        redemption.issue(session, shop, rich, winter, T0 + DAY)
    assert late.value.reason == "dates"
    session.commit()
    assert rich.balance == 1050 - 300


def test_a_retired_reward_cannot_be_redeemed_but_its_codes_still_work(session, rich, shop, configure, make_reward, reward_row, program, T0):
    coffee = reward_row("coffee")
    code = redemption.issue(session, shop, rich, coffee, T0)
    config = configure(rewards=[make_reward("tea", cost=10)])
    session.refresh(coffee)
    assert coffee.retired_at is not None
    with pytest.raises(Refused) as refused:
        redemption.issue(session, config, rich, coffee, T0)
    assert refused.value.reason == "dates"
    assert redemption.use(session, program.id, code.code, T0, "till-1").refused is None
    session.commit()


# --- using a code -----------------------------------------------------------------------


def test_a_code_is_used_once_and_then_says_used(session, rich, shop, reward_row, program, T0):
    code = redemption.issue(session, shop, rich, reward_row("coffee"), T0)
    session.commit()

    looked = redemption.check(session, program.id, code.code, T0, "till-1")
    assert (looked.refused, looked.code.id) == (None, code.id)
    assert "Coffee" in looked.message and rich.code in looked.message
    assert session.get(Code, code.id).status == "issued"  # checking does not use it

    used = redemption.use(session, program.id, code.code, T0 + DAY, "till-1")
    session.commit()
    assert used.refused is None and used.message == "Coffee: accepted"
    stored = session.get(Code, code.id)
    assert (stored.status, stored.used_at, stored.used_by) == ("redeemed", T0 + DAY, "till-1")

    again = redemption.use(session, program.id, code.code, T0 + 2 * DAY, "till-2")
    session.commit()
    assert again.refused == "used" and "2026-03-03" in again.message
    assert redemption.check(session, program.id, code.code, T0 + 2 * DAY, "till-2").refused == "used"
    assert session.get(Code, code.id).used_by == "till-1"
    assert session.get(Member, rich.id).balance == 550  # using a code moves no points


@both_databases
def test_a_cancelled_code_gives_its_points_back_and_is_refused_everywhere(session, rich, shop, reward_row, program, T0):
    code = redemption.issue(session, shop, rich, reward_row("coffee"), T0)
    session.commit()
    assert session.get(Member, rich.id).balance == 550

    assert redemption.cancel(session, code, T0 + DAY, "staff:ann@shop.example") == 500
    session.commit()
    assert session.get(Code, code.id).status == "cancelled"
    assert session.get(Member, rich.id).balance == 1050
    entry = session.scalars(select(LedgerEntry).where(LedgerEntry.code_id == code.id, LedgerEntry.kind == "code_return")).one()
    assert (entry.amount, entry.actor) == (500, "staff:ann@shop.example")

    refused = redemption.use(session, program.id, code.code, T0 + DAY, "till-1")
    assert (refused.refused, refused.message) == ("cancelled", "code was cancelled")
    with pytest.raises(Refused) as again:
        redemption.cancel(session, code, T0 + DAY, "staff:ann@shop.example")
    assert again.value.reason == "code_cancelled"
    session.commit()
    # The clock's expiry later finds nothing to give back twice.
    assert redemption.expire_codes(session, program.id, T0 + 60 * DAY) == []
    assert session.get(Member, rich.id).balance == 1050


def test_a_used_code_cannot_be_cancelled(session, rich, shop, reward_row, program, T0):
    code = redemption.issue(session, shop, rich, reward_row("coffee"), T0)
    assert redemption.use(session, program.id, code.code, T0, "till-1").refused is None
    session.commit()
    with pytest.raises(Refused) as refused:
        redemption.cancel(session, code, T0 + DAY)
    assert refused.value.reason == "code_redeemed"
    session.rollback()
    assert session.get(Code, code.id).status == "redeemed" and session.get(Member, rich.id).balance == 550


@pytest.fixture
def known_code(monkeypatch, session, rich, shop, reward_row, T0):  # type: ignore[no-untyped-def]
    """A code whose text we know, with the symbols people mistype: 0 and 1."""
    monkeypatch.setattr(redemption, "new_redemption_code", lambda: "K7QM03XPA19RT")
    code = redemption.issue(session, shop, rich, reward_row("coffee"), T0)
    session.commit()
    return code


def test_a_code_is_found_however_it_is_typed(session, known_code, program, T0):
    typed_ways = ["K7QM03XPA19RT", "k7qm03xpa19rt", "K7QM-03XP-A19RT", "k7qm 03xp a19rt", "K7QMO3XPA19RT",
                  "k7qm-o3xp-al9rt", "K7QM03XPAI9RT", "  K7QM_03XP_A19RT\t"]
    for typed in typed_ways:
        found = redemption.check(session, program.id, typed, T0, "till-1")
        assert (typed, found.refused, found.code) == (typed, None, known_code)
    assert redemption.use(session, program.id, "k7qm-o3xp-al9rt", T0, "till-1").refused is None
    session.commit()
    assert session.get(Code, known_code.id).status == "redeemed"
    assert session.scalar(select(func.count(CodeAttempt.id))) == 0


def test_display_groups_a_code_for_reading_and_normalize_undoes_it():
    assert codes.display("K7QM03XPA19RT") == "K7QM-03XP-A19RT"
    assert codes.normalize(codes.display("K7QM03XPA19RT")) == "K7QM03XPA19RT"
    assert codes.normalize("k7qm-o3xp-al9rt") == "K7QM03XPA19RT"
    assert codes.normalize("K7QM!03XP") == "" and codes.normalize("  ") == "" and codes.normalize("UUUU") == ""


@both_databases
def test_wrong_codes_are_counted_and_throttled_per_actor(session, known_code, program, T0):
    for i in range(10):
        wrong = redemption.use(session, program.id, f"ZZZZZZZZZZZ{i:02d}", T0 + i * timedelta(seconds=5), "till-1")
        assert wrong.refused == "unknown" and wrong.code is None
    session.commit()
    assert session.scalar(select(func.count(CodeAttempt.id)).where(CodeAttempt.actor == "till-1")) == 10

    now = T0 + timedelta(minutes=1)
    throttled = redemption.use(session, program.id, known_code.code, now, "till-1")
    assert throttled.refused == "throttled" and throttled.code is None
    assert "15 minutes" in throttled.message
    assert session.get(Code, known_code.id).status == "issued"

    other = redemption.use(session, program.id, known_code.code, now, "till-2")
    session.commit()
    assert other.refused is None
    assert session.get(Code, known_code.id).used_by == "till-2"


def test_the_throttle_lifts_after_the_window(session, known_code, program, T0):
    for _ in range(10):
        redemption.check(session, program.id, "nope", T0, "api:key-1")
    session.commit()
    assert redemption.check(session, program.id, known_code.code, T0 + timedelta(minutes=14), "api:key-1").refused == "throttled"
    assert redemption.check(session, program.id, known_code.code, T0 + timedelta(minutes=15), "api:key-1").refused is None


def test_right_codes_are_not_counted_as_guesses(session, known_code, program, T0):
    for _ in range(12):
        assert redemption.check(session, program.id, known_code.code, T0, "till-1").refused is None
    assert session.scalar(select(func.count(CodeAttempt.id))) == 0


# --- expiry of codes ----------------------------------------------------------------------


@both_databases
def test_an_unused_code_expires_and_gives_its_points_back_once(session, rich, shop, reward_row, program, T0):
    code = redemption.issue(session, shop, rich, reward_row("coffee"), T0)
    used = redemption.issue(session, shop, rich, reward_row("mug"), T0)
    redemption.use(session, program.id, used.code, T0, "till-1")
    session.commit()
    assert rich.balance == 450
    last_minute = T0 + 30 * DAY - timedelta(minutes=1)
    assert redemption.check(session, program.id, code.code, last_minute, "till-1").refused is None

    expired = redemption.use(session, program.id, code.code, T0 + 30 * DAY, "till-1")
    assert expired.refused == "expired" and "2026-04-01" in expired.message

    assert [c.id for c in redemption.expire_codes(session, program.id, T0 + 30 * DAY)] == [code.id]
    assert redemption.expire_codes(session, program.id, T0 + 30 * DAY) == []
    session.commit()
    assert redemption.expire_codes(session, program.id, T0 + 60 * DAY) == []
    session.commit()

    assert session.get(Code, code.id).status == "expired"
    assert session.get(Code, used.id).status == "redeemed"
    assert session.get(Member, rich.id).balance == 950
    returned = session.execute(
        select(LedgerEntry.kind, LedgerEntry.amount, LedgerEntry.idempotency_key).where(LedgerEntry.kind == "code_return")
    ).all()
    assert returned == [("code_return", 500, f"code-return:{code.id}")]
    assert redemption.use(session, program.id, code.code, T0 + 30 * DAY, "till-1").refused == "expired"
    assert outstanding(session, rich.id, T0 + 30 * DAY) == []


# --- unguessable, scannable ---------------------------------------------------------------


def test_codes_carry_at_least_64_random_bits():
    assert len(set(codes.ALPHABET)) == 32
    assert codes.REDEMPTION_LENGTH * math.log2(len(codes.ALPHABET)) >= 64
    many = {codes.new_redemption_code() for _ in range(2000)}
    assert len(many) == 2000
    assert all(len(c) == codes.REDEMPTION_LENGTH and set(c) <= set(codes.ALPHABET) for c in many)
    # Every symbol turns up in every position: no position is fixed or narrowed.
    for position in range(codes.REDEMPTION_LENGTH):
        assert len({c[position] for c in many}) == 32


def test_an_issued_codes_qr_image_scans_back_to_its_text(session, rich, shop, reward_row, T0):
    code = redemption.issue(session, shop, rich, reward_row("coffee"), T0)
    png = qr.qr_png(code.code)

    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))
    assert [(r.text, r.format) for r in found] == [(code.code, zxingcpp.BarcodeFormat.QRCode)]
    session.commit()
