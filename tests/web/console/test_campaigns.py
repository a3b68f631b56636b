"""The console's campaign pages, as a manager uses them: the live count is the number
``loyalty campaign preview`` prints and writes nothing; a campaign is created now or for
later through the same checks as the API (a refusal shown next to its field, in the same
words); a recurring one ("Repeat": every day, week or month at a time, or a cron expression)
is stored with the cron expression and next run the CLI's --cron gives, and read in words;
a scheduled one is cancelled; a test goes to the staff user's own phone only;
a cashier may not open any of it; a form without its CSRF token is refused."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import csrf_token, email_of, post_form, sign_in
from flask.testing import FlaskClient
from sqlalchemy import func, select
from test_api import BEN, Shop

from rewards import members
from rewards.models import (
    Campaign,
    CampaignRecipient,
    Code,
    Identity,
    OutboxMessage,
    StaffActivity,
    StaffUser,
)
from rewards.promotions import cron

PHONES = [f"+1555000000{n}" for n in range(1, 6)]  # the demo's members
STAFF_PHONE = "+15550009999"  # not a member
# The filters a merchant tries, as the form sends them and as the CLI takes them.
FILTERS: list[tuple[dict[str, Any], str]] = [
    ({}, "all"),
    ({"tier": "Gold"}, "tier=Gold"),
    ({"tier": ["Gold", "Silver"]}, "tier=Gold|Silver"),
    ({"min_balance": "1000"}, "min_balance=1000"),
    ({"channel": "web", "has_redeemed": "false"}, "channel=web,has_redeemed=false"),
    ({"inactive_days": "1"}, "inactive_days=1"),
    ({"joined_after": "2020-01-01", "language": "es"}, "joined_after=2020-01-01,language=es"),
]


def reachable(shop: Shop) -> None:
    """Every demo member chats on the web (the web channel is always on); Chloe said no to
    promotions and Diego opted out on his chat, so counts are not all equal."""
    with shop.rt.transaction() as session:
        now = shop.rt.clock()
        for phone in PHONES:
            member = members.find(session, shop.program_id, phone)
            session.add(Identity(program_id=shop.program_id, channel="web", address=phone, member_id=member.id,
                                 first_seen_at=now, last_seen_at=now, marketing_opt_out=phone == "+15550000004"))
            member.marketing_consent = phone != "+15550000003"


def cli_figure(output: str, label: str) -> int:
    line = next(line for line in output.splitlines() if line.strip().startswith(label))
    return int(line.strip()[len(label):].split()[0].replace(",", ""))


def writes(shop: Shop) -> tuple[int, ...]:
    """What a count must leave as it was."""
    with shop.rt.transaction() as session:
        return tuple(session.scalar(select(func.count()).select_from(model)) or 0
                     for model in (Campaign, CampaignRecipient, OutboxMessage, StaffActivity, Code))


def field_error(page: str, name: str) -> str | None:
    found = re.search(rf'<p class="field-error" id="err-{name}">([^<]*)</p>', page)
    return found.group(1).replace("&#34;", '"').replace("&#39;", "'").replace("&amp;", "&") if found else None


def form(**fields: Any) -> dict[str, Any]:
    return {"name": "Gold weekend", "text": "Double points all weekend!", "when": "now", "offer": "none",
            "action": "create"} | fields


def campaigns_in(shop: Shop) -> list[Campaign]:
    with shop.rt.transaction() as session:
        found = list(session.scalars(select(Campaign).order_by(Campaign.id)))
        session.expunge_all()
        return found


def activity(shop: Shop, action: str) -> list[StaffActivity]:
    with shop.rt.transaction() as session:
        found = list(session.scalars(select(StaffActivity).where(StaffActivity.action == action)))
        session.expunge_all()
        return found


def local(shop: Shop, text: str) -> Any:
    from datetime import datetime

    with shop.rt.transaction() as session:
        _, config = shop.rt.program(session)
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(config.timezone))


# --- the live count -------------------------------------------------------------------


def test_the_live_count_is_the_clis_preview_and_writes_nothing(any_console: Shop) -> None:
    reachable(any_console)
    manager = sign_in(any_console, "manager")
    before = writes(any_console)
    for fields, audience in FILTERS:
        answer = manager.get("/campaigns/preview", query_string=fields)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        printed = any_console.cli("campaign", "preview", "--audience", audience).output
        assert answer.json["matching"] == cli_figure(printed, "matching members"), audience
        assert answer.json["sending"] == cli_figure(printed, "would be sent"), audience
        assert f'data-n="{answer.json["sending"]}"' in answer.json["html"]
    assert writes(any_console) == before
    assert manager.get("/campaigns/preview", query_string={"tier": "Gold"}).json["sending"] == 1  # Ben, not Diego


def test_a_count_at_a_later_time_and_a_wrong_filter(console: Shop) -> None:
    reachable(console)
    manager = sign_in(console, "manager")
    later = manager.get("/campaigns/preview", query_string={"when": "at", "send_at": "2199-01-02T10:00"})
    printed = console.cli("campaign", "preview", "--at", "2199-01-02 10:00").output
    assert later.status_code == 200 and later.json["sending"] == cli_figure(printed, "would be sent")
    wrong = manager.get("/campaigns/preview", query_string={"min_balance": "-5"})
    assert wrong.status_code == 422
    assert wrong.json["field"] == "min_balance"
    assert wrong.json["message"] == "audience min_balance: must be 0 to 1,000,000,000, got -5"
    assert "--" + wrong.json["message"] in console.cli("campaign", "preview", "--audience", "min_balance=-5").output


def test_without_javascript_the_count_button_shows_the_same_number(console: Shop) -> None:
    reachable(console)
    manager = sign_in(console, "manager")
    page = post_form(manager, "/campaigns/new", form(action="count", tier="Gold", name="", text=""),
                     token_from="/campaigns/new")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="count-sending" data-n="1"' in html and 'id="count-matching" data-n="2"' in html
    assert campaigns_in(console) == []


# --- creating ---------------------------------------------------------------------------


def test_a_manager_creates_a_campaign_sent_now(console: Shop) -> None:
    manager = sign_in(console, "manager")
    page = manager.get("/campaigns/new").get_data(as_text=True)
    assert 'src="/console/static/campaigns.js"' in page and "<script>" not in page
    for name in ("tier", "channel", "inactive_days", "min_balance", "birthday_month", "joined_after",
                 "joined_before", "has_redeemed", "send_at", "name", "text", "multiplier", "coupon", "my_phone"):
        assert f'name="{name}"' in page, name
    for field_id in ("f-inactive_days", "f-min_balance", "f-send_at", "f-name", "f-text", "f-my_phone"):
        assert f'<label for="{field_id}">' in page, field_id
    done = post_form(manager, "/campaigns/new", form(tier="Gold"), token_from="/campaigns/new")
    assert done.status_code == 303 and done.headers["Location"] == "/campaigns/1"
    (created,) = campaigns_in(console)
    assert (created.status, created.audience, created.created_by) == ("scheduled", {"tier": ["Gold"]},
                                                                      "staff:manager@shop.example")
    assert created.send_at is not None and created.next_run_at == created.send_at
    shown = manager.get("/campaigns/1").get_data(as_text=True)
    assert "Campaign created. It goes out within a minute." in shown and "Gold weekend" in shown
    assert "Tier: Gold" in shown
    listed = manager.get("/campaigns").get_data(as_text=True)
    assert 'href="/campaigns/1">Gold weekend</a>' in listed
    (logged,) = activity(console, "campaign_create")
    assert (logged.email, logged.target, logged.details["audience"]) == (email_of("manager"), "campaign 1", "tier=Gold")
    api = console.get("/campaigns/1").json
    assert api["audience_text"] == "tier=Gold" and api["status"] == "scheduled"


def test_a_campaign_for_later_with_double_points(console: Shop) -> None:
    owner = sign_in(console, "owner")
    done = post_form(owner, "/campaigns/new", form(when="at", send_at="2199-12-04T10:00", offer="multiplier",
                                                   multiplier="2", offer_from="2199-12-04", offer_until="2199-12-05",
                                                   min_balance="100", birthday_month="5"),
                     token_from="/campaigns/new")
    assert done.status_code == 303, done.get_data(as_text=True)
    (created,) = campaigns_in(console)
    assert created.send_at == local(console, "2199-12-04T10:00")
    assert (created.offer_kind, created.multiplier_permille) == ("multiplier", 2000)
    assert created.offer_ends_at == local(console, "2199-12-06T00:00")
    assert created.audience == {"min_balance": 100, "birthday_month": 5}
    shown = owner.get("/campaigns/1").get_data(as_text=True)
    assert "It goes out at the time you chose." in shown
    assert "2× points from" in shown and "Birthday month: May" in shown
    assert "Balance of at least (points): 100" in shown


def test_a_coupon_campaign(console: Shop) -> None:
    manager = sign_in(console, "manager")
    done = post_form(manager, "/campaigns/new", form(offer="coupon", coupon="free-coffee", text="Here: {code}"),
                     token_from="/campaigns/new")
    assert done.status_code == 303
    (created,) = campaigns_in(console)
    assert created.offer_kind == "coupon" and created.reward_id is not None


@pytest.mark.parametrize(("fields", "field", "api_body"), [
    ({"name": " "}, "name", {"name": " "}),
    ({"min_balance": "-5"}, "min_balance", {"audience": {"min_balance": "-5"}}),
    ({"joined_after": "2026-05-01", "joined_before": "2026-01-01"}, "joined_before",
     {"audience": {"joined_after": "2026-05-01", "joined_before": "2026-01-01"}}),
    ({"when": "at", "send_at": "2020-01-01T10:00"}, "send_at", {"now": None, "send_at": "2020-01-01T10:00"}),
    ({"when": "at", "send_at": ""}, "when", {"now": None}),
    ({"image_url": "http://example.com/a.png"}, "image_url", {"image_url": "http://example.com/a.png"}),
    ({"offer": "coupon", "coupon": "no-such-reward"}, "coupon", None),
    ({"offer": "multiplier", "multiplier": "20", "offer_from": "2199-01-01", "offer_until": "2199-01-02"},
     "multiplier", None),
])
def test_a_refusal_is_shown_next_to_its_field_in_the_apis_words(console: Shop, fields: dict[str, Any], field: str,
                                                               api_body: dict[str, Any] | None) -> None:
    manager = sign_in(console, "manager")
    page = post_form(manager, "/campaigns/new", form(**fields), token_from="/campaigns/new")
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    shown = field_error(html, field)
    assert shown, html
    if api_body is not None:
        body = {"name": "Gold weekend", "text": "Double points all weekend!", "now": True} | api_body
        body = {k: v for k, v in body.items() if v is not None}
        answer = console.post("/campaigns", body)
        assert answer.status_code == 422 and answer.json["message"] == shown
    assert 'aria-invalid="true"' in html or field == "when"
    assert campaigns_in(console) == []
    assert activity(console, "campaign_create") == []


# --- a campaign's page: counts, cancel, failure ------------------------------------------------


def test_a_scheduled_campaign_is_cancelled(console: Shop) -> None:
    manager = sign_in(console, "manager")
    post_form(manager, "/campaigns/new", form(when="at", send_at="2199-01-01T10:00"), token_from="/campaigns/new")
    page = manager.get("/campaigns/1").get_data(as_text=True)
    assert "Cancel this campaign" in page
    done = post_form(manager, "/campaigns/1/cancel", {}, token_from="/campaigns/1")
    assert done.status_code == 303
    (cancelled,) = campaigns_in(console)
    assert cancelled.status == "cancelled" and cancelled.next_run_at is None
    shown = manager.get("/campaigns/1").get_data(as_text=True)
    assert "Campaign cancelled; 0 waiting messages withdrawn." in shown and "Cancel this campaign" not in shown
    again = post_form(manager, "/campaigns/1/cancel", {}, token_from="/campaigns/new")
    assert again.status_code == 409
    assert field_error(again.get_data(as_text=True), "cancel") == "campaign 1 was already cancelled"
    (logged,) = activity(console, "campaign_cancel")
    assert logged.target == "campaign 1" and logged.details == {"withdrawn": 0}


def test_a_sent_campaign_shows_its_counts_and_conversion(console: Shop) -> None:
    reachable(console)
    manager = sign_in(console, "manager")
    post_form(manager, "/campaigns/new", form(tier="Gold"), token_from="/campaigns/new")
    assert console.cli("campaign", "send-due").exit_code == 0
    with console.rt.transaction() as session:  # the sender handed it over
        for message in session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "campaign")):
            message.status, message.sent_at = "sent", console.rt.clock() - timedelta(minutes=1)
    console.post("/purchases", {"customer": BEN, "amount": "10.00", "receipt_id": "R-campaign"})
    page = manager.get("/campaigns/1").get_data(as_text=True)
    assert '<dd id="n-targeted">2</dd>' in page and '<dd id="n-sent">1</dd>' in page
    assert '<dd id="n-converted">1</dd>' in page and '<dd id="n-conversion">100%</dd>' in page
    assert "Skipped: Opted out (or sent STOP): 1" in page  # Diego
    shown = console.cli("campaign", "show", "1").output
    assert "targeted 2" in shown and "sent 1" in shown and "converted 1" in shown
    listed = manager.get("/campaigns").get_data(as_text=True)
    assert '<td class="num">100%</td>' in listed and "Sent</span>" in listed


def test_a_failed_campaign_says_why(console: Shop) -> None:
    manager = sign_in(console, "manager")
    post_form(manager, "/campaigns/new", form(), token_from="/campaigns/new")
    with console.rt.transaction() as session:
        campaign = session.get_one(Campaign, 1)
        campaign.status, campaign.failed_at, campaign.next_run_at = "failed", console.rt.clock(), None
        campaign.failed_reason = "audience inactive_days: must be 1 to 3,650, got 800,000"
    page = manager.get("/campaigns/1").get_data(as_text=True)
    assert "will not run again: audience inactive_days: must be 1 to 3,650, got 800,000" in page
    assert manager.get("/campaigns/99").status_code == 404


# --- a test send to yourself ---------------------------------------------------------------------


def outbox(shop: Shop) -> list[tuple[str, str, str, int | None]]:
    with shop.rt.transaction() as session:
        return [(m.channel, m.address, m.payload["text"], m.member_id)
                for m in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def test_a_test_send_goes_to_my_phone_only_and_is_kept(console: Shop) -> None:
    reachable(console)
    manager = sign_in(console, "manager")
    missing = post_form(manager, "/campaigns/new", form(action="test"), token_from="/campaigns/new")
    assert missing.status_code == 422
    assert field_error(missing.get_data(as_text=True), "my_phone") == "Type your phone number to send yourself a test."
    wrong = post_form(manager, "/campaigns/new", form(action="test", my_phone="call me"), token_from="/campaigns/new")
    assert wrong.status_code == 422 and "is not a phone number" in field_error(wrong.get_data(as_text=True), "my_phone")
    before = outbox(console)
    sent = post_form(manager, "/campaigns/new", form(action="test", my_phone="(555) 000-9999", tier="Gold"),
                     token_from="/campaigns/new")
    assert sent.status_code == 200
    assert f"A test message is on its way to {STAFF_PHONE} (web)." in sent.get_data(as_text=True)
    assert outbox(console)[len(before):] == [("web", STAFF_PHONE, "[TEST] Double points all weekend!", None)]
    assert campaigns_in(console) == []  # a test is not the campaign
    with console.rt.transaction() as session:
        me = session.scalar(select(StaffUser).where(StaffUser.email == email_of("manager")))
        assert me is not None and me.phone == STAFF_PHONE
    (logged,) = activity(console, "campaign_test_send")
    assert logged.target == "campaign draft" and logged.details["channel"] == "web"
    assert STAFF_PHONE not in str(logged.details)  # masked
    # The saved phone is offered next time; a saved campaign's test goes out the same way.
    assert f'value="{STAFF_PHONE}"' in manager.get("/campaigns/new").get_data(as_text=True)
    post_form(manager, "/campaigns/new", form(when="at", send_at="2199-01-01T10:00"), token_from="/campaigns/new")
    again = post_form(manager, "/campaigns/1/test", {}, token_from="/campaigns/1")
    assert again.status_code == 200 and "A test message is on its way" in again.get_data(as_text=True)
    assert [row[:3] for row in outbox(console)[len(before) + 1:]] == [
        ("web", STAFF_PHONE, "[TEST] Double points all weekend!")]
    assert [a.target for a in activity(console, "campaign_test_send")] == ["campaign draft", "campaign 1"]


def test_a_member_staff_gets_the_test_where_they_chat(console: Shop) -> None:
    reachable(console)
    manager = sign_in(console, "manager")
    sent = post_form(manager, "/campaigns/new", form(action="test", my_phone=BEN), token_from="/campaigns/new")
    assert sent.status_code == 200
    (message,) = outbox(console)
    assert message[:3] == ("web", BEN, "[TEST] Double points all weekend!") and message[3] is not None


# --- who may, and forms without their token -------------------------------------------------------


def test_a_cashier_may_not_open_or_post_campaigns(console: Shop) -> None:
    manager = sign_in(console, "manager")
    post_form(manager, "/campaigns/new", form(when="at", send_at="2199-01-01T10:00"), token_from="/campaigns/new")
    cashier: FlaskClient = sign_in(console, "cashier")
    token = csrf_token(cashier, "/login")
    for path in ("/campaigns", "/campaigns/new", "/campaigns/1", "/campaigns/preview?tier=Gold"):
        answer = cashier.get(path)
        assert answer.status_code == 403, path
        assert "Not for your role" in answer.get_data(as_text=True)
        assert "Your account (cashier) cannot open this page." in answer.get_data(as_text=True)
    for path in ("/campaigns/new", "/campaigns/1/cancel", "/campaigns/1/test"):
        assert cashier.post(path, data=form(csrf_token=token)).status_code == 403, path
    assert [c.status for c in campaigns_in(console)] == ["scheduled"]
    assert "Campaigns" not in cashier.get("/campaigns").get_data(as_text=True).split("<main")[0]
    assert 'href="/campaigns"' in manager.get("/campaigns").get_data(as_text=True)
    anonymous = console.app.test_client().get("/campaigns/new")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login?next=")


def test_a_form_without_its_csrf_token_is_refused(console: Shop) -> None:
    manager = sign_in(console, "manager")
    post_form(manager, "/campaigns/new", form(when="at", send_at="2199-01-01T10:00"), token_from="/campaigns/new")
    for path in ("/campaigns/new", "/campaigns/1/cancel", "/campaigns/1/test"):
        answer = manager.post(path, data=form(my_phone=STAFF_PHONE))
        assert answer.status_code == 400, path
        assert "This form has expired" in answer.get_data(as_text=True)
    assert [c.status for c in campaigns_in(console)] == ["scheduled"]
    assert outbox(console) == []


def test_a_test_send_to_a_phone_that_sent_stop_is_refused(console: Shop) -> None:
    with console.rt.transaction() as session:
        now = console.rt.clock()
        session.add(Identity(program_id=console.program_id, channel="web", address=STAFF_PHONE, first_seen_at=now,
                             last_seen_at=now, stopped_at=now))
    manager = sign_in(console, "manager")
    refused = post_form(manager, "/campaigns/new", form(action="test", my_phone=STAFF_PHONE), token_from="/campaigns/new")
    assert refused.status_code == 409
    assert field_error(refused.get_data(as_text=True), "my_phone") == (
        "web does not reach this phone (it sent STOP, or the provider said it is unreachable)")
    assert outbox(console) == [] and activity(console, "campaign_test_send") == []


# --- recurring campaigns: the "Repeat" choices, as the CLI's --cron -------------------------------


def program_zone(shop: Shop) -> str:
    with shop.rt.transaction() as session:
        _, config = shop.rt.program(session)
    return config.timezone


@pytest.mark.parametrize(("fields", "expression", "words"), [
    ({"repeat": "daily", "repeat_time": "08:30"}, "30 8 * * *", "Every day at 08:30"),
    ({"repeat": "weekly", "weekday": ["SAT"], "repeat_time": "10:00"}, "0 10 * * SAT", "Every Saturday at 10:00"),
    ({"repeat": "weekly", "weekday": ["FRI", "MON"], "repeat_time": "18:05"}, "5 18 * * MON,FRI",
     "Every Monday and Friday at 18:05"),
    ({"repeat": "monthly", "month_day": "15", "repeat_time": "09:00"}, "0 9 15 * *",
     "Every month on day 15 at 09:00"),
    ({"repeat": "cron", "cron": "0 10 * * sat", "weekday": ["MON"], "repeat_time": "junk"}, "0 10 * * sat",
     "Every Saturday at 10:00"),
])
def test_a_recurring_campaign_from_the_form_is_the_clis_cron(console: Shop, fields: dict[str, Any], expression: str,
                                                            words: str) -> None:
    manager = sign_in(console, "manager")
    page = manager.get("/campaigns/new").get_data(as_text=True)
    for name in ("repeat", "weekday", "month_day", "repeat_time", "cron"):
        assert f'name="{name}"' in page, name
    done = post_form(manager, "/campaigns/new", form(when="repeat", send_at="2199-01-01T10:00", **fields),
                     token_from="/campaigns/new")
    assert done.status_code == 303, done.get_data(as_text=True)
    (created,) = campaigns_in(console)
    zone = program_zone(console)
    assert (created.cron, created.send_at, created.status) == (expression, None, "scheduled")
    # the next run is the one the domain computes for the CLI's --cron, at the wall time chosen
    assert created.next_run_at is not None and created.created_at is not None
    assert created.next_run_at == cron.next_run(expression, created.created_at, zone)
    wall = created.next_run_at.astimezone(ZoneInfo(zone))
    hour, minute = (int(n) for n in expression.split()[1::-1])
    assert (wall.hour, wall.minute) == (hour, minute) and created.next_run_at > created.created_at
    if fields["repeat"] == "monthly":
        assert wall.day == 15
    elif expression.endswith("SAT") or expression.endswith("sat"):
        assert wall.isoweekday() == 6
    elif expression.endswith("MON,FRI"):
        assert wall.isoweekday() in (1, 5)
    (logged,) = activity(console, "campaign_create")
    assert logged.details["cron"] == expression and logged.details["send_at"] is None
    shown = manager.get("/campaigns/1").get_data(as_text=True)
    assert f"Campaign created. {words}, in the program&#39;s time zone. First run: " in shown
    assert re.search(rf'<dd id="schedule">{words} <span class="detail">\(cron: {re.escape(expression)}\)', shown)
    assert "Cancel this campaign" in shown
    listed = manager.get("/campaigns").get_data(as_text=True)
    assert f'<span class="schedule">{words}</span>' in listed and "Next: " in listed


def test_the_cli_and_the_api_read_the_forms_recurring_campaign(console: Shop) -> None:
    owner = sign_in(console, "owner")
    post_form(owner, "/campaigns/new", form(when="repeat", repeat="weekly", weekday=["SAT"], repeat_time="10:00"),
              token_from="/campaigns/new")
    api = console.get("/campaigns/1").json
    assert api["cron"] == "0 10 * * SAT"
    made_by_api = console.post("/campaigns", {"name": "API", "text": "Hi", "cron": "0 10 * * SAT"})
    assert made_by_api.status_code == 201, made_by_api.json
    first, second = campaigns_in(console)
    assert (first.cron, first.next_run_at) == (second.cron, second.next_run_at)


def test_a_recurring_campaign_is_cancelled_and_stops(console: Shop) -> None:
    manager = sign_in(console, "manager")
    post_form(manager, "/campaigns/new", form(when="repeat", repeat="daily", repeat_time="10:00"),
              token_from="/campaigns/new")
    done = post_form(manager, "/campaigns/1/cancel", {}, token_from="/campaigns/1")
    assert done.status_code == 303
    (cancelled,) = campaigns_in(console)
    assert (cancelled.status, cancelled.next_run_at, cancelled.cron) == ("cancelled", None, "0 10 * * *")
    shown = manager.get("/campaigns/1").get_data(as_text=True)
    assert "Every day at 10:00" in shown and "Cancel this campaign" not in shown
    assert console.cli("campaign", "send-due").exit_code == 0
    with console.rt.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"repeat": "daily", "repeat_time": ""}, "repeat_time", "Choose the time it goes out, like 10:00."),
    ({"repeat": "daily", "repeat_time": "25:00"}, "repeat_time",
     '"25:00" is not a time of day: write it like 10:00 (00:00 to 23:59).'),
    ({"repeat": "weekly", "repeat_time": "10:00"}, "weekday", "Tick at least one day of the week."),
    ({"repeat": "weekly", "weekday": ["HOLIDAY"], "repeat_time": "10:00"}, "weekday",
     "Tick at least one day of the week."),
    ({"repeat": "monthly", "month_day": "32", "repeat_time": "10:00"}, "month_day",
     "Choose a day of the month from 1 to 31."),
    ({"repeat": "cron", "cron": ""}, "cron", 'Type a cron expression, like "0 10 * * SAT" (Saturdays at 10:00).'),
    ({"repeat": "cron", "cron": "0 25 * * *"}, "cron", None),  # the domain's words, as the API's
    ({"repeat": "cron", "cron": "*/10 * * * *"}, "cron", None),
    ({"repeat": "cron", "cron": "0 0 30 2 *"}, "cron", None),
    ({"repeat": "sometimes"}, "repeat", "Choose how often it repeats."),
])
def test_a_repeat_refusal_is_shown_next_to_its_field(console: Shop, fields: dict[str, Any], field: str,
                                                    message: str | None) -> None:
    manager = sign_in(console, "manager")
    page = post_form(manager, "/campaigns/new", form(when="repeat", **fields), token_from="/campaigns/new")
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    shown = field_error(html, field)
    if message is None:
        answer = console.post("/campaigns", {"name": "Gold weekend", "text": "Hi", "cron": fields["cron"]})
        assert answer.status_code == 422
        message = answer.json["message"]
    assert shown == message, html
    assert f'href="#err-{field}"' in html
    assert campaigns_in(console) == [] and activity(console, "campaign_create") == []


def test_a_recurring_campaign_with_fixed_dated_points_is_refused(console: Shop) -> None:
    manager = sign_in(console, "manager")
    page = post_form(manager, "/campaigns/new", form(when="repeat", repeat="daily", repeat_time="10:00",
                                                     offer="multiplier", multiplier="2", offer_from="2199-01-01",
                                                     offer_until="2199-01-02"), token_from="/campaigns/new")
    assert page.status_code == 422
    assert field_error(page.get_data(as_text=True), "multiplier") == (
        "multiplier: has fixed dates, so it cannot ride on a recurring (cron) campaign")
    assert campaigns_in(console) == []


def test_the_count_for_a_repeat_and_a_wrong_cron(console: Shop) -> None:
    manager = sign_in(console, "manager")
    counted = manager.get("/campaigns/preview", query_string={"when": "repeat", "repeat": "weekly",
                                                              "weekday": "SAT", "repeat_time": "10:00"})
    assert counted.status_code == 200 and counted.json["ok"]
    unfinished = manager.get("/campaigns/preview", query_string={"when": "repeat", "repeat": "weekly",
                                                                 "repeat_time": "10:00"})  # no day ticked yet
    assert unfinished.status_code == 200 and unfinished.json["sending"] == counted.json["sending"]
    refused = manager.get("/campaigns/preview", query_string={"when": "repeat", "repeat": "cron", "cron": "0 25 * * *"})
    assert refused.status_code == 422 and refused.json["field"] == "cron"
    assert refused.json["message"].startswith('cron "0 25 * * *": the hour must be 0 to 23')
    assert campaigns_in(console) == []


def test_an_owner_reads_the_schedule_in_spanish(console: Shop) -> None:
    owner = sign_in(console, "owner", language="es")
    page = owner.get("/campaigns/new").get_data(as_text=True)
    assert "sábado" in page and "Repetir" in page
    post_form(owner, "/campaigns/new", form(when="repeat", repeat="weekly", weekday=["SAT", "SUN"],
                                            repeat_time="10:00"), token_from="/campaigns/new")
    post_form(owner, "/campaigns/new", form(when="repeat", repeat="monthly", month_day="1", repeat_time="09:00"),
              token_from="/campaigns/new")
    assert [c.cron for c in campaigns_in(console)] == ["0 10 * * SAT,SUN", "0 9 1 * *"]
    assert "Cada sábado y domingo a las 10:00" in owner.get("/campaigns/1").get_data(as_text=True)
    listed = owner.get("/campaigns").get_data(as_text=True)
    assert "Cada sábado y domingo a las 10:00" in listed and "Cada mes el día 1 a las 09:00" in listed


def test_a_cashier_may_not_create_a_recurring_campaign(console: Shop) -> None:
    cashier = sign_in(console, "cashier")
    token = csrf_token(cashier, "/login")
    answer = cashier.post("/campaigns/new", data=form(when="repeat", repeat="daily", repeat_time="10:00",
                                                       csrf_token=token))
    assert answer.status_code == 403
    assert campaigns_in(console) == []
