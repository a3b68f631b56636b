"""Campaign fan-out: who receives, who is skipped and why, when (quiet hours, DST), once
(restarts, two clocks at once), and the counts a merchant reads afterwards."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from campaign_helpers import CHANNELS, add_identity, add_member, campaign_messages, make_campaign, recipients, run
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rewards import earning, redemption
from rewards.errors import Refused
from rewards.models import Campaign, CampaignRecipient, CampaignRun, Code, OutboxMessage, Program
from rewards.promotions import campaigns
from rewards.promotions.campaign_stats import counts
from rewards.promotions.eligibility import Rules, preview
from rewards.promotions.fanout import fan_out, send_test

# Every rule here is SQL the two databases must agree on.
pytestmark = pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def crowd(session, join, T0):  # type: ignore[no-untyped-def]
    """One member for each way a promotion can go."""
    return {
        "telegram": add_member(session, join, channel="telegram", address="tg-1"),
        "sms": add_member(session, join, channel="sms"),
        "no_consent": add_member(session, join, channel="telegram", address="tg-2", consent=False),
        "opted_out": add_member(session, join, channel="sms", opted_out=True),
        "stopped": add_member(session, join, channel="whatsapp", stopped=True),
        "unreachable": add_member(session, join, channel="telegram", address="tg-3", unreachable=True),
        "terminal_only": add_member(session, join, channel="terminal"),
        "wa_recent": add_member(session, join, channel="whatsapp", last_seen=T0 - timedelta(hours=2)),
        "wa_stale": add_member(session, join, channel="whatsapp", last_seen=T0 - timedelta(hours=25)),
    }


EXPECTED = {
    "telegram": None, "sms": None, "wa_recent": None, "no_consent": "no_consent", "opted_out": "opted_out",
    "stopped": "opted_out", "unreachable": "no_channel", "terminal_only": "no_channel", "wa_stale": "whatsapp_window",
}


def test_each_member_is_sent_or_skipped_with_the_reason(session, program, demo_config, crowd, T0) -> None:  # type: ignore[no-untyped-def]
    campaign = make_campaign(session, program, demo_config)
    total = run(session, campaign)
    assert total.done and total.queued == 3 and total.skipped == 6
    got = recipients(session, campaign)
    assert {name: got[m.id][1] for name, m in crowd.items()} == EXPECTED
    sent_to = {(m.channel, m.address, m.member_id) for m in campaign_messages(session, campaign)}
    assert sent_to == {("telegram", "tg-1", crowd["telegram"].id), ("sms", crowd["sms"].phone, crowd["sms"].id),
                       ("whatsapp", crowd["wa_recent"].phone, crowd["wa_recent"].id)}
    message = campaign_messages(session, campaign)[0]
    assert message.payload["text"] == "Hello from Bean There!" and message.available_at == T0
    assert message.dedupe_key == f"campaign:{campaign.id}:{total.run_id}:{message.member_id}"
    assert session.get(Campaign, campaign.id).status == "sent"


def test_the_preview_counts_what_the_fan_out_then_does(session, program, demo_config, crowd, T0) -> None:  # type: ignore[no-untyped-def]
    rules = Rules.of(program.id, demo_config, {}, CHANNELS, T0)
    result = preview(session, {}, rules)
    assert result.matching == 9 and result.sending == 3 and result.waiting == 0
    assert result.skipped == {"no_consent": 1, "opted_out": 2, "no_channel": 2, "over_cap": 0, "whatsapp_window": 1}
    assert campaign_messages(session) == []  # a preview writes nothing
    at_night = T0 + timedelta(hours=12)  # 22:00 in New York
    night = preview(session, {"channel": ["telegram"]}, Rules.of(program.id, demo_config, {"channel": ["telegram"]},
                                                                 CHANNELS, at_night))
    assert night.matching == 3 and night.sending == 1 and night.waiting == 1


def test_a_whatsapp_template_lets_messages_outside_the_window_go(session, program, configure, crowd, T0) -> None:  # type: ignore[no-untyped-def]
    config = configure(whatsapp={"notice_template_sid": "HX" + "0" * 32})
    campaign = make_campaign(session, program, config)
    run(session, campaign)
    assert recipients(session, campaign)[crowd["wa_stale"].id] == ("queued", None)


def test_a_channel_that_is_off_does_not_count_and_the_freshest_channel_is_used(session, program, demo_config, join, T0) -> None:  # type: ignore[no-untyped-def]
    both = add_member(session, join, channel="sms", last_seen=T0 - timedelta(days=3))
    add_identity(session, both, "telegram", "tg-9", last_seen_at=T0 - timedelta(days=1))
    off = add_member(session, join, channel="whatsapp")
    campaign = make_campaign(session, program, demo_config)
    run(session, campaign, channels=("sms", "telegram"))
    assert [(m.channel, m.member_id) for m in campaign_messages(session, campaign)] == [("telegram", both.id)]
    assert recipients(session, campaign)[off.id] == ("skipped", "no_channel")


def test_an_opt_out_on_one_channel_leaves_the_others(session, program, demo_config, join, T0) -> None:  # type: ignore[no-untyped-def]
    member = add_member(session, join, channel="sms", stopped=True, last_seen=T0)
    add_identity(session, member, "telegram", "tg-5", last_seen_at=T0 - timedelta(days=30))
    campaign = make_campaign(session, program, demo_config)
    run(session, campaign)
    assert [(m.channel, m.address) for m in campaign_messages(session, campaign)] == [("telegram", "tg-5")]


def test_fanning_out_twice_queues_each_message_once(session, program, demo_config, crowd, T0) -> None:  # type: ignore[no-untyped-def]
    campaign = make_campaign(session, program, demo_config)
    first = run(session, campaign)
    again = run(session, campaign, now=T0 + timedelta(minutes=5))
    assert first.queued == 3 and again.queued == 0 and again.looked_at == 0
    # Were the run's progress (its cursor) ever lost, the database refuses the second copy:
    # the chunk fails whole and nothing is queued twice.
    session.execute(update(CampaignRun).values(cursor=0, finished_at=None))
    session.execute(update(Campaign).where(Campaign.id == campaign.id).values(status="sending", next_run_at=T0))
    session.commit()
    with pytest.raises(IntegrityError):
        fan_out(session, campaign, T0, CHANNELS)
    session.rollback()
    assert len(campaign_messages(session, campaign)) == 3
    assert session.scalar(select(func.count(CampaignRun.id))) == 1


def test_a_run_stopped_half_way_resumes_where_it_was(session, program, demo_config, join, T0) -> None:  # type: ignore[no-untyped-def]
    people = [add_member(session, join) for _ in range(7)]
    add_identity(session, people[0], "telegram", "tg-extra")
    campaign = make_campaign(session, program, demo_config, text="Hi")
    step = fan_out(session, campaign, T0, CHANNELS + ("terminal",), limit=3, chunk=2)
    session.commit()
    assert (step.looked_at, step.done) == (3, False) and session.get(Campaign, campaign.id).status == "sending"
    rest = run(session, campaign, T0 + timedelta(minutes=1), CHANNELS + ("terminal",), chunk=2)
    assert rest.looked_at == 4 and rest.done
    assert sorted(m.member_id for m in campaign_messages(session, campaign)) == [p.id for p in people]


def test_two_clocks_fanning_out_at_once_queue_each_message_once(sessions, session, program, demo_config, join, configure, T0) -> None:  # type: ignore[no-untyped-def]
    people = [add_member(session, join, channel="telegram", address=f"tg-{i}") for i in range(40)]
    campaign = make_campaign(session, program, demo_config, coupon="pastry")
    other = make_campaign(session, program, demo_config, name="Second")
    third = make_campaign(session, program, demo_config, name="Third")
    session.commit()
    errors: list[BaseException] = []
    barrier = threading.Barrier(6, timeout=30)

    def clock(campaign_id: int) -> None:
        try:
            barrier.wait()
            with sessions() as s:
                target = s.get(Campaign, campaign_id)
                while not fan_out(s, target, T0, CHANNELS, limit=7, chunk=3).done:
                    s.commit()
                s.commit()
        except BaseException as error:  # noqa: BLE001 - judged below
            errors.append(error)

    threads = [threading.Thread(target=clock, args=(cid,)) for cid in (campaign.id, campaign.id, other.id, other.id,
                                                                        third.id, third.id)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors and not any(t.is_alive() for t in threads)
    session.expire_all()
    keys = [m.dedupe_key for m in campaign_messages(session)]
    assert len(keys) == len(set(keys))
    per_member = Counter(m.member_id for m in campaign_messages(session))
    assert set(per_member.values()) == {2}  # the weekly cap of 2 held across three campaigns racing
    assert len(per_member) == len(people)
    coupons = session.scalars(select(Code).where(Code.cost == 0)).all()
    assert len(coupons) == len(campaign_messages(session, campaign))
    assert session.scalar(select(func.count(CampaignRecipient.id))) == 3 * len(people)


def test_no_consent_or_opt_out_never_receives_but_still_gets_replies(session, program, demo_config, join, T0) -> None:  # type: ignore[no-untyped-def]
    from rewards import outbox

    said_no = add_member(session, join, channel="sms", consent=False)
    outbox.enqueue(session, program.id, "sms", said_no.phone, {"text": "Your balance is 50."}, "reply", T0,
                   member_id=said_no.id)
    for n in range(3):
        run(session, make_campaign(session, program, demo_config, name=f"Promo {n}"), T0 + timedelta(days=7 * n))
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.member_id == said_no.id)).all()
    assert [r.kind for r in rows] == ["reply"]


def test_the_weekly_cap_counts_every_campaign_over_the_trailing_seven_days(session, program, demo_config, join, T0) -> None:  # type: ignore[no-untyped-def]
    member = add_member(session, join, channel="telegram", address="tg-cap")
    got = []
    for day in (0, 2, 4, 7):  # cap 2: the third within a week is skipped; a week after the first, one is free again
        campaign = make_campaign(session, program, demo_config, name=f"day {day}", now=T0 + timedelta(days=day))
        run(session, campaign, T0 + timedelta(days=day))
        got.append(recipients(session, campaign)[member.id])
    assert got == [("queued", None), ("queued", None), ("skipped", "over_cap"), ("queued", None)]


def test_a_test_send_is_outside_the_cap_and_the_counts(session, program, demo_config, join, T0) -> None:  # type: ignore[no-untyped-def]
    me = add_member(session, join, channel="telegram", address="tg-me")
    for n in range(2):
        run(session, make_campaign(session, program, demo_config, name=f"Promo {n}"))
    campaign = make_campaign(session, program, demo_config, send_at="2026-03-20 10:00", coupon="pastry")
    message = send_test(session, campaign, me, T0, CHANNELS)
    assert message.payload["text"] == "[TEST] Hello from Bean There!\n\nTEST-CODE-XXXXX" and message.available_at == T0
    assert message.kind == "campaign" and ":test:" in (message.dedupe_key or "")
    assert session.scalar(select(func.count(Code.id))) == 0  # no real coupon for a test
    assert counts(session, campaign).targeted == 0
    no = add_member(session, join, channel="telegram", address="tg-no", consent=False)
    with pytest.raises(Refused, match="does not accept promotions"):
        send_test(session, campaign, no, T0, CHANNELS)
    nowhere = add_member(session, join, channel="terminal")
    with pytest.raises(Refused, match="no reachable address"):
        send_test(session, campaign, nowhere, T0, CHANNELS)


@pytest.mark.parametrize(("now", "expected"), [
    ("2026-03-08 05:00", {"+12125550101": "2026-03-08 13:00", "+13105550101": "2026-03-08 16:00",
                          "+34912345678": "2026-03-08 08:00", "+15550101234": "2026-03-08 13:00"}),
    ("2026-11-01 04:00", {"+12125550101": "2026-11-01 14:00", "+13105550101": "2026-11-01 17:00",
                          "+34912345678": "2026-11-01 08:00", "+15550101234": "2026-11-01 14:00"}),
    ("2026-03-02 15:00", {"+12125550101": "2026-03-02 15:00", "+13105550101": "2026-03-02 17:00",
                          "+34912345678": "2026-03-02 15:00", "+15550101234": "2026-03-02 15:00"}),
], ids=["spring-forward-night", "fall-back-night", "weekday-morning"])
def test_quiet_hours_hold_messages_until_the_recipients_morning(session, program, demo_config, join, now, expected) -> None:  # type: ignore[no-untyped-def]
    at = utc(now)
    by_phone = {phone: add_member(session, join, phone=phone, channel="sms", now=at) for phone in expected}
    campaign = make_campaign(session, program, demo_config, now=at)
    total = run(session, campaign, at)
    held = {m.address: m.available_at for m in campaign_messages(session, campaign)}
    assert held == {phone: utc(morning) for phone, morning in expected.items()}
    assert total.waiting == sum(1 for morning in expected.values() if utc(morning) > at)
    assert set(by_phone) == set(held)


def test_quiet_hours_can_close_the_whatsapp_window(session, program, demo_config, join) -> None:  # type: ignore[no-untyped-def]
    at = utc("2026-03-03 02:30")  # 21:30 in New York: waits until 09:00, 11.5 hours later
    fresh = add_member(session, join, channel="whatsapp", last_seen=at - timedelta(hours=10), now=at)
    closing = add_member(session, join, channel="whatsapp", last_seen=at - timedelta(hours=20), now=at)
    campaign = make_campaign(session, program, demo_config, now=at)
    run(session, campaign, at)
    got = recipients(session, campaign)
    assert got[fresh.id] == ("queued", None) and got[closing.id] == ("skipped", "whatsapp_window")


def test_a_coupon_is_a_free_code_redeemable_once(session, program, demo_config, crowd, entries, T0) -> None:  # type: ignore[no-untyped-def]
    balances = {m.id: m.balance for m in crowd.values()}
    campaign = make_campaign(session, program, demo_config, coupon="free-coffee", text="A coffee on us: {code}")
    run(session, campaign)
    codes = session.scalars(select(Code).order_by(Code.id)).all()
    assert sorted(c.member_id for c in codes) == sorted(crowd[n].id for n in ("telegram", "sms", "wa_recent"))
    assert {(c.cost, c.status, c.reward.slug) for c in codes} == {(0, "issued", "free-coffee")}
    for message in campaign_messages(session, campaign):
        code = next(c for c in codes if c.member_id == message.member_id)
        assert message.payload["image"] == {"kind": "qr", "data": code.code, "filename": f"code-{code.code}.png"}
        assert message.payload["text"].startswith("A coffee on us: ") and code.code[:4] in message.payload["text"]
    session.expire_all()
    assert {m.id: m.balance for m in crowd.values()} == balances  # no points moved
    assert all(kind != "redeem" for kind, _ in entries(crowd["telegram"]))
    first = redemption.use(session, program.id, codes[0].code, T0, "staff:ann")
    again = redemption.use(session, program.id, codes[0].code, T0, "staff:bob")
    assert first.refused is None and again.refused == "used"


def test_cancel_stops_a_scheduled_campaign(session, program, demo_config, crowd, T0) -> None:  # type: ignore[no-untyped-def]
    campaign = make_campaign(session, program, demo_config, send_at="2026-03-07 10:00")
    assert campaigns.due(session, utc("2026-03-07 15:00")) == [campaign]
    assert campaigns.cancel(session, campaign, T0) == 0
    session.commit()
    assert campaigns.due(session, utc("2026-03-07 15:00")) == []
    step = fan_out(session, campaign, utc("2026-03-07 15:00"), CHANNELS)
    assert step.done and step.looked_at == 0 and campaign_messages(session) == []
    with pytest.raises(Refused, match="already cancelled"):
        campaigns.cancel(session, campaign, T0)


def test_cancel_in_the_middle_of_a_run_stops_it(session, program, demo_config, join, T0) -> None:  # type: ignore[no-untyped-def]
    for i in range(5):
        add_member(session, join, channel="telegram", address=f"tg-{i}")
    campaign = make_campaign(session, program, demo_config)
    assert fan_out(session, campaign, T0, CHANNELS, limit=2).queued == 2
    session.commit()
    assert campaigns.cancel(session, campaign, T0) == 2
    session.commit()
    step = fan_out(session, campaign, T0, CHANNELS)
    assert step.done and step.looked_at == 0
    assert [m.status for m in campaign_messages(session, campaign)] == ["skipped", "skipped"]
    assert session.get(Campaign, campaign.id).status == "cancelled"


def test_cancel_withdraws_messages_waiting_for_morning_and_their_coupons(session, program, demo_config, crowd) -> None:  # type: ignore[no-untyped-def]
    night = utc("2026-03-03 03:00")  # 22:00 in New York
    campaign = make_campaign(session, program, demo_config, now=night, coupon="pastry")
    run(session, campaign, night)
    assert {m.status for m in campaign_messages(session, campaign)} == {"queued"}
    assert campaigns.cancel(session, campaign, night + timedelta(minutes=5)) == 2  # wa_recent's window closes before 09:00
    session.commit()
    assert {(m.status, m.error) for m in campaign_messages(session, campaign)} == {("skipped", campaigns.CANCELLED)}
    assert {c.status for c in session.scalars(select(Code))} == {"cancelled"}
    assert counts(session, campaign).skipped[campaigns.CANCELLED] == 2


def test_counts_follow_what_the_sender_and_provider_reported(session, program, demo_config, join, T0) -> None:  # type: ignore[no-untyped-def]
    people = {name: add_member(session, join, channel="sms") for name in ("delivered", "undelivered", "failed",
                                                                          "waiting", "sender_skipped", "bought_late")}
    refused = add_member(session, join, channel="sms", consent=False)
    campaign = make_campaign(session, program, demo_config)
    run(session, campaign)
    sent_at = T0 + timedelta(minutes=1)
    by_member = {m.member_id: m.id for m in campaign_messages(session, campaign)}

    def outcome(name: str, **values: object) -> None:
        session.execute(update(OutboxMessage).where(OutboxMessage.id == by_member[people[name].id]).values(**values))

    for name in ("delivered", "undelivered", "bought_late"):
        outcome(name, status="sent", sent_at=sent_at)
    outcome("delivered", delivery_status="delivered")
    outcome("undelivered", delivery_status="undelivered")
    outcome("failed", status="failed", error="21211 invalid number")
    outcome("sender_skipped", status="skipped", error="unreachable: bot blocked")
    config_program = session.get(Program, program.id)
    earning.record_purchase(session, config_program, demo_config, people["delivered"], "5.00", "R-1", T0 + timedelta(days=2))
    earning.record_purchase(session, config_program, demo_config, people["bought_late"], "5.00", "R-2", T0 + timedelta(days=9))
    earning.record_purchase(session, config_program, demo_config, people["waiting"], "5.00", "R-3", T0 + timedelta(days=1))
    session.commit()
    result = counts(session, campaign, conversion_days=7)
    assert result.as_dict() == {
        "targeted": 7, "queued": 6, "waiting": 1, "sent": 3, "delivered": 1, "failed": 2, "skipped": 2,
        "skipped_by_reason": {"no_consent": 1, "opted_out": 0, "no_channel": 0, "over_cap": 0, "whatsapp_window": 0,
                              "unreachable: bot blocked": 1},
        "converted": 1, "conversion_days": 7, "runs": 1,
    }
    assert refused.id not in by_member
    assert counts(session, campaign, conversion_days=10).converted == 2


def test_a_recurring_campaign_runs_each_time_and_survives_a_restart(session, program, demo_config, join, T0) -> None:  # type: ignore[no-untyped-def]
    member = add_member(session, join, channel="telegram", address="tg-r")
    campaign = make_campaign(session, program, demo_config, cron_expression="0 10 * * MON")
    assert campaign.next_run_at == utc("2026-03-09 14:00")  # next Monday 10:00 EDT (clocks changed on the 8th)
    assert run(session, campaign, T0).looked_at == 0  # not due yet
    run(session, campaign, utc("2026-03-09 14:00"))
    session.expire_all()
    campaign = session.get(Campaign, campaign.id)
    assert (campaign.status, campaign.next_run_at) == ("scheduled", utc("2026-03-16 14:00"))
    # The clock was down for two weeks: one run now, then the next Monday, none made up.
    run(session, campaign, utc("2026-03-30 20:00"))
    session.expire_all()
    assert session.get(Campaign, campaign.id).next_run_at == utc("2026-04-06 14:00")
    assert [m.member_id for m in campaign_messages(session, campaign)] == [member.id, member.id]
    assert session.scalar(select(func.count(CampaignRun.id))) == 2


def test_due_lists_what_is_due_and_a_run_left_half_way(session: Session, program, demo_config, join, T0) -> None:  # type: ignore[no-untyped-def]
    add_member(session, join)
    later = make_campaign(session, program, demo_config, send_at="2026-03-02 12:00")
    now = make_campaign(session, program, demo_config)
    assert campaigns.due(session, T0) == [now]
    assert campaigns.due(session, utc("2026-03-02 17:00")) == [now, later]
