"""Campaign offers: a points multiplier applied by earning inside its window only, to the
members the campaign targeted; and what a merchant may not combine."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from campaign_helpers import add_member, make_campaign, run

from rewards import earning
from rewards.errors import InvalidInput
from rewards.models import Program
from rewards.promotions import campaigns

WEEKEND = dict(multiplier="2", offer_from="2026-03-07", offer_until="2026-03-08")  # Sat 00:00 to Mon 00:00 local


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def buy(session, program, demo_config):  # type: ignore[no-untyped-def]
    receipts = iter(range(1, 10_000))

    def _buy(member, amount: str, at: datetime) -> int:  # type: ignore[no-untyped-def]
        result = earning.record_purchase(session, session.get(Program, program.id), demo_config, member, amount,
                                         f"R-{next(receipts)}", at)
        return result.points

    return _buy


@pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
def test_double_points_inside_the_weekend_only(session, program, demo_config, join, buy) -> None:  # type: ignore[no-untyped-def]
    member = add_member(session, join)
    make_campaign(session, program, demo_config, **WEEKEND)
    assert buy(member, "10.00", utc("2026-03-07 04:59")) == 100  # Friday 23:59 in New York
    assert buy(member, "10.00", utc("2026-03-07 05:00")) == 200  # Saturday 00:00
    assert buy(member, "10.00", utc("2026-03-09 03:59")) == 200  # Sunday 23:59 EDT (clocks changed that night)
    assert buy(member, "10.00", utc("2026-03-09 04:00")) == 100  # Monday 00:00


def test_the_multiplier_multiplies_the_tier_and_rounds_once(session, program, demo_config, join, buy) -> None:  # type: ignore[no-untyped-def]
    silver = add_member(session, join, tier="Silver")  # 1.25x
    make_campaign(session, program, demo_config, multiplier="1.5", offer_from="2026-03-07", offer_until="2026-03-08")
    # 0.30 x 10 x 1.25 x 1.5 = 5.625, rounded down once: 5 (rounding the tier's 3.75 first would give 4)
    assert buy(silver, "0.30", utc("2026-03-07 15:00")) == 5


def test_a_targeted_multiplier_applies_to_its_recipients_only(session, program, demo_config, join, buy, T0) -> None:  # type: ignore[no-untyped-def]
    gold = add_member(session, join, channel="telegram", address="tg-g")
    other = add_member(session, join, channel="telegram", address="tg-o")
    assert buy(gold, "300.00", T0) == 3000 and gold.tier.name == "Gold"
    campaign = make_campaign(session, program, demo_config, audience="tier=Gold", send_at="2026-03-07 10:00", **WEEKEND)
    saturday_morning, saturday_noon = utc("2026-03-07 14:00"), utc("2026-03-07 17:00")
    assert buy(gold, "10.00", saturday_morning) == 150  # the campaign has not gone out yet: Gold's 1.5x only
    run(session, campaign, utc("2026-03-07 15:00"))
    assert buy(gold, "10.00", saturday_noon) == 300
    assert buy(other, "10.00", saturday_noon) == 100


def test_the_highest_offer_applies_and_a_cancelled_one_stops(session, program, demo_config, join, buy) -> None:  # type: ignore[no-untyped-def]
    member = add_member(session, join)
    make_campaign(session, program, demo_config, **WEEKEND)
    triple = make_campaign(session, program, demo_config, multiplier="3", offer_from="2026-03-07", offer_until="2026-03-07")
    assert buy(member, "1.00", utc("2026-03-07 15:00")) == 30
    campaigns.cancel(session, triple, utc("2026-03-07 15:30"))
    assert buy(member, "1.00", utc("2026-03-07 16:00")) == 20


@pytest.mark.parametrize(("given", "message"), [
    (dict(name=" "), "name: is required"),
    (dict(text=""), "text: is required"),
    (dict(text="x" * 1601), "text: is 1601 characters; at most 1600"),
    (dict(send_now=True, send_at="2026-03-05 10:00"), "schedule: give exactly one of send_at (a time), cron (recurring) or now; got send_at, now"),
    (dict(send_now=False), "schedule: give exactly one of send_at"),
    (dict(send_now=False, send_at="2026-03-01 10:00"), "send_at: 2026-03-01 10:00 is in the past; use now"),
    (dict(send_now=False, send_at="saturday"), 'send_at "saturday" is not a date and time'),
    (dict(send_now=False, send_at="2026-03-08 02:30"), "send_at 2026-03-08 02:30 does not exist in America/New_York"),
    (dict(send_now=False, cron_expression="*/30 * * * *"), 'cron: "*/30 * * * *" runs more often than once an hour'),
    (dict(send_now=False, cron_expression="0 0 30 2 *"), 'cron: "0 0 30 2 *" never runs'),
    (dict(send_now=False, cron_expression="0 25 * * *"), 'cron "0 25 * * *": the hour must be 0 to 23'),
    (dict(multiplier="1"), "multiplier: must be more than 1 and at most 10, got 1"),
    (dict(multiplier="double", offer_from="2026-03-07", offer_until="2026-03-08"), 'multiplier: must be a number like 2'),
    (dict(multiplier="1.2345", offer_from="2026-03-07", offer_until="2026-03-08"), "multiplier: has at most 3 decimals"),
    (dict(multiplier="2", offer_until="2026-03-08"), "offer_from: is required"),
    (dict(multiplier="2", offer_from="2026-03-07", offer_until="2026-03-06"), "offer_until: must be after offer_from"),
    (dict(multiplier="2", offer_from="2026-02-01", offer_until="2026-02-02"), "offer_until: is in the past"),
    (dict(offer_from="2026-03-07"), "multiplier: offer_from and offer_until need a multiplier"),
    (dict(send_now=False, cron_expression="0 10 * * SAT", **WEEKEND), "multiplier: has fixed dates"),
    (dict(coupon="gold-bar"), 'coupon: "gold-bar" is not a reward in the catalog (rewards: free-coffee, pastry, five-off, gold-mug)'),
    (dict(coupon="pastry", **WEEKEND), "offer: one offer per campaign"),
    (dict(coupon="pastry", image_url="https://x.test/a.png"), "image_url: a coupon campaign carries the coupon's QR"),
    (dict(image_url="ftp://x"), "image_url: must be a web address starting with https://"),
    (dict(audience="tier=Platinum"), 'audience tier: "Platinum" is not one of Bronze, Silver, Gold'),
])
def test_a_wrong_campaign_is_refused_naming_the_field(session, program, demo_config, given, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as refused:
        make_campaign(session, program, demo_config, **given)
    assert str(refused.value).startswith(message), str(refused.value)


def test_a_send_at_a_moment_ago_means_now(session, program, demo_config, T0) -> None:  # type: ignore[no-untyped-def]
    campaign = make_campaign(session, program, demo_config, send_at="2026-03-02 09:58")  # 2 minutes ago
    assert campaign.next_run_at == T0 and campaign.send_at == T0
