"""Campaigns as a merchant uses them: ``loyalty campaign ...`` and ``/api/v1/campaigns``,
on the demo program with a fixed clock. Demo members get a web chat identity (the web
channel is always on), so messages have somewhere to go."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select
from support import NO_POSTGRES, POSTGRES_URL, drop_postgres_schema, migrated_postgres_url, migrated_sqlite_url

from rewards import apikeys, members
from rewards.models import Campaign, Identity, OutboxMessage
from scheduler import campaigns as scheduler_campaigns
from scheduler.clock import Clock
from web.app import create_app
from web.cli import cli
from web.settings import Settings

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
ANA, BEN, CHLOE, DIEGO, EMMA = (f"+1555000000{n}" for n in range(1, 6))


class Merchant:
    def __init__(self, tmp_path: Path, url: str | None = None) -> None:
        settings = Settings.from_env({"DATABASE_URL": url or migrated_sqlite_url(tmp_path / 'c.db'),
                                      "LOYALTY_QR_DIR": str(tmp_path)})
        self.app = create_app(settings)
        self.rt = self.app.extensions["loyalty"]
        self.now = T0
        self.rt.clock = lambda: self.now
        assert self.cli("demo").exit_code == 0
        with self.rt.transaction() as session:
            program, _ = self.rt.program(session)
            self.program_id = program.id
            _, key = apikeys.create(session, program.id, "till", T0)
            for phone in (ANA, BEN, CHLOE, DIEGO, EMMA):
                member = members.find(session, program.id, phone)
                session.add(Identity(program_id=program.id, channel="web", address=f"web-{phone}", member_id=member.id,
                                     first_seen_at=T0, last_seen_at=T0, marketing_opt_out=phone == DIEGO))
                member.marketing_consent = phone != CHLOE
        self.auth = {"Authorization": f"Bearer {key}"}
        self.client = self.app.test_client()

    def cli(self, *args: str) -> Any:
        return CliRunner().invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: self.app), catch_exceptions=False)

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(f"/api/v1{path}", json=body, headers=self.auth)

    def get(self, path: str) -> Any:
        return self.client.get(f"/api/v1{path}", headers=self.auth)

    def messages(self) -> list[OutboxMessage]:
        with self.rt.transaction() as session:
            return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "campaign")
                                        .order_by(OutboxMessage.id)))


def figure(output: str, label: str) -> str:
    """The number printed after ``label`` in a preview."""
    line = next(line for line in output.splitlines() if line.strip().startswith(label))
    return line[len(line) - len(line.lstrip()) + len(label):].split()[0]


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Merchant]:
    made = Merchant(tmp_path)
    yield made
    made.rt.engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def any_shop(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Merchant]:
    """The same, on SQLite and (when LOYALTY_TEST_POSTGRES_URL is set) in a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield request.getfixturevalue("shop")
        return
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    url, schema = migrated_postgres_url()
    made: Merchant | None = None
    try:
        made = Merchant(tmp_path, url)
        yield made
    finally:
        if made is not None:
            made.rt.engine.dispose()
        drop_postgres_schema(schema)


# --- the command line -------------------------------------------------------------------


def test_a_weekend_double_points_campaign_to_gold_members(shop: Merchant) -> None:
    created = shop.cli("campaign", "create", "--name", "Gold weekend", "--text", "Double points this weekend, Gold friends!",
                       "--audience", "tier=Gold", "--at", "2026-03-07 10:00", "--multiplier", "2",
                       "--from", "2026-03-07", "--until", "2026-03-08")
    assert created.exit_code == 0, created.output
    assert ('created campaign 1 "Gold weekend": scheduled, audience tier=Gold, at 2026-03-07 10:00 EST, 2x points'
            " 2026-03-07 00:00 EST to 2026-03-09 00:00 EDT") in created.output
    listed = shop.cli("campaign", "list")
    assert "1  scheduled  2026-03-07 10:00 EST" in listed.output and "Gold weekend  [tier=Gold]" in listed.output
    preview = shop.cli("campaign", "preview", "1")
    assert "channels that are on: web" in preview.output
    assert figure(preview.output, "matching members") == "2" and figure(preview.output, "would be sent") == "1"  # Diego opted out
    shop.now = datetime(2026, 3, 7, 15, 0, tzinfo=UTC)
    sent = shop.cli("campaign", "send-due")
    assert sent.exit_code == 0 and 'campaign 1 "Gold weekend": 1 message queued, 1 skipped (opted out' in sent.output
    assert [(m.address, m.payload["text"]) for m in shop.messages()] == [
        (f"web-{BEN}", "Double points this weekend, Gold friends!")]
    assert "no campaign is due" in shop.cli("campaign", "send-due").output
    bought = shop.cli("purchase", BEN, "10.00", "--receipt", "R-W1")
    assert "+300 points" in bought.output  # 10.00 x 10 x Gold 1.5 x 2
    shown = shop.cli("campaign", "show", "1")
    assert "targeted 2  queued 1  waiting 1  sent 0" in shown.output and "converted 0" in shown.output


def test_create_now_sends_at_once_and_show_counts_by_reason(shop: Merchant) -> None:
    result = shop.cli("campaign", "create", "--name", "Hello", "--text", "Hi all", "--now")
    assert result.exit_code == 0, result.output
    assert 'campaign 1 "Hello": 3 messages queued, 2 skipped (no marketing consent 1, opted out (or sent STOP) 1)' in result.output
    shown = shop.cli("campaign", "show", "1").output
    assert "targeted 5  queued 3  waiting 3" in shown and "skipped 2" in shown
    assert "skipped: no marketing consent: 1" in shown and "skipped: opted out (or sent STOP): 1" in shown


def test_preview_before_creating_and_quiet_hours(shop: Merchant) -> None:
    result = shop.cli("campaign", "preview", "--audience", "language=es", "--at", "2026-03-02 22:00")
    assert result.exit_code == 0, result.output
    assert "audience language=es, sent 2026-03-02 22:00 EST" in result.output
    assert "would be sent" in result.output and "1  (1 wait for quiet hours to end)" in result.output  # Ana; Diego opted out
    assert "skipped: opted out (or sent STOP)" in result.output


def test_test_send_and_cancel(shop: Merchant) -> None:
    shop.cli("campaign", "create", "--name", "Later", "--text", "Soon", "--at", "2026-03-05 10:00", "--coupon", "pastry")
    sent = shop.cli("campaign", "test-send", "1", "--to", BEN)
    assert sent.exit_code == 0 and "test message queued for member" in sent.output and "on web" in sent.output
    assert shop.messages()[0].payload["text"] == "[TEST] Soon\n\nTEST-CODE-XXXXX"
    cancelled = shop.cli("campaign", "cancel", "1")
    assert cancelled.exit_code == 0 and 'campaign 1 "Later" cancelled' in cancelled.output
    again = shop.cli("campaign", "cancel", "1")
    assert again.exit_code == 1 and "campaign 1 was already cancelled" in again.output
    shop.now = datetime(2026, 3, 5, 16, 0, tzinfo=UTC)
    assert "no campaign is due" in shop.cli("campaign", "send-due").output


@pytest.mark.parametrize(("args", "message"), [
    (("create", "--name", "x", "--text", "y", "--audience", "tier=Platinum", "--now"),
     '--audience tier: "Platinum" is not one of Bronze, Silver, Gold'),
    # The CLI names its options (--at), not the API's fields (send_at).
    (("create", "--name", "x", "--text", "y", "--at", "tomorrow"), '--at "tomorrow" is not a date and time'),
    (("create", "--name", "x", "--text", "y", "--at", "2026-03-05 10:00", "--now"),
     "schedule: give exactly one of --at (a time), --cron (recurring) or --now; got --at, --now"),
    (("create", "--name", "x", "--text", "y", "--cron", "0 10 * * FUNDAY"), '--cron "0 10 * * FUNDAY"'),
    (("create", "--name", "x", "--text", "y", "--now", "--coupon", "nope"), '--coupon: "nope" is not a reward'),
    (("create", "--name", "x", "--text", "y", "--now", "--from", "2026-03-07"),
     "--multiplier: --from and --until need a --multiplier (like 2 for double points)"),
    (("create", "--name", "x", "--text", "y", "--now", "--coupon", "free-coffee", "--image", "https://x/a.png"),
     "--image: a --coupon campaign carries the coupon's QR code as its image; leave --image out"),
    (("preview", "--at", "yesterday"), '--at "yesterday" is not a date and time'),
    (("show", "99"), "no campaign 99"),
    (("show", "abc"), "no campaign abc"),
    (("test-send", "1", "--to", "+15559999999"), "no campaign 1"),
])
def test_mistakes_are_one_clear_line(shop: Merchant, args: tuple[str, ...], message: str) -> None:
    result = shop.cli("campaign", *args)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert not any(field in result.output for field in ("send_at", "offer_from", "offer_until", "image_url"))


# --- the REST API ---------------------------------------------------------------------


def test_api_create_show_preview_cancel(shop: Merchant) -> None:
    body = {"name": "Gold weekend", "text": "Double points!", "audience": {"tier": "Gold"},
            "send_at": "2026-03-07 10:00", "offer": {"kind": "multiplier", "factor": 2, "starts_at": "2026-03-07",
                                                    "ends_at": "2026-03-08"}}
    created = shop.post("/campaigns", body)
    assert created.status_code == 201, created.json
    campaign = created.json
    assert campaign["status"] == "scheduled" and campaign["audience"] == {"tier": ["Gold"]}
    assert campaign["send_at"] == "2026-03-07T15:00:00+00:00" and campaign["created_by"].startswith("apikey:")
    assert campaign["offer"] == {"kind": "multiplier", "factor": 2.0, "starts_at": "2026-03-07T05:00:00+00:00",
                                 "ends_at": "2026-03-09T04:00:00+00:00"}
    assert [c["id"] for c in shop.get("/campaigns").json["campaigns"]] == [campaign["id"]]
    preview = shop.get(f"/campaigns/{campaign['id']}/preview").json
    assert preview["matching"] == 2 and preview["sending"] == 1 and preview["channels"] == ["web"]
    shown = shop.get(f"/campaigns/{campaign['id']}").json
    assert shown["counts"]["targeted"] == 0 and shown["counts"]["conversion_days"] == 7
    cancelled = shop.post(f"/campaigns/{campaign['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled" and cancelled.json["withdrawn"] == 0
    again = shop.post(f"/campaigns/{campaign['id']}/cancel")
    assert again.status_code == 409 and again.json["error"] == "already_cancelled"
    assert shop.get("/campaigns/999").status_code == 404


def test_api_now_is_sent_by_the_next_send_due_and_counted(shop: Merchant) -> None:
    created = shop.post("/campaigns", {"name": "Coupon", "text": "Free pastry: {code}", "audience": "language=en",
                                       "now": True, "offer": {"kind": "coupon", "reward": "pastry"}})
    assert created.status_code == 201, created.json
    assert shop.messages() == []  # the request does not fan out
    assert "2 messages queued" in shop.cli("campaign", "send-due").output  # Ben and Emma; Chloe said no
    counts = shop.get(f"/campaigns/{created.json['id']}").json["counts"]
    assert counts["queued"] == len(shop.messages()) and counts["targeted"] == 3
    assert counts["skipped_by_reason"]["no_consent"] == 1
    with shop.rt.transaction() as session:
        assert session.get(Campaign, created.json["id"]).status == "sent"


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"name": "x", "text": "y", "now": True, "sendAt": "2026-03-07"}, 422, '"sendAt" is not a campaign field'),
    ({"text": "y", "now": True}, 422, "name: is required"),
    ({"name": "x", "text": "y", "now": "yes"}, 422, '"now" must be true or false'),
    ({"name": "x", "text": "y"}, 422, "schedule: give exactly one of send_at"),
    ({"name": "x", "text": "y", "now": True, "audience": {"tier": "Gold", "spend": 5}}, 422, "audience spend: is not a filter"),
    ({"name": "x", "text": "y", "now": True, "offer": {"kind": "cashback"}}, 422, '"offer.kind" must be'),
    ({"name": "x", "text": "y", "now": True, "offer": {"kind": "multiplier", "factor": 1, "starts_at": "2026-03-07",
                                                        "ends_at": "2026-03-08"}}, 422, "offer.factor: must be more than 1"),
    ({"name": "x", "text": "y", "now": True, "offer": {"kind": "multiplier", "factor": 2}}, 422, '"offer.starts_at" is required'),
    ({"name": "x", "text": "y", "now": True, "offer": {"kind": "coupon", "reward": "nope"}}, 422, 'offer.reward: "nope"'),
    ({"name": "x", "text": "y", "cron": "0 10 * * SAT", "offer": {"kind": "coupon", "reward": "pastry", "x": 1}}, 422,
     '"offer.x" is not a field of a coupon offer'),
    (["not", "an", "object"], 400, "the body must be a JSON object"),
])
def test_api_refusals_name_the_field(shop: Merchant, body: Any, status: int, message: str) -> None:
    response = shop.post("/campaigns", body)
    assert response.status_code == status and message in response.json["message"], response.json
    assert shop.get("/campaigns").json["campaigns"] == []


def test_api_needs_a_key(shop: Merchant) -> None:
    assert shop.client.get("/api/v1/campaigns").status_code == 401
    assert shop.client.post("/api/v1/campaigns", json={}).status_code == 401


def test_the_clock_moves_schedules_in_local_time(shop: Merchant) -> None:
    created = shop.post("/campaigns", {"name": "Saturdays", "text": "Weekend!", "cron": "0 10 * * SAT"}).json
    assert created["next_run_at"] == "2026-03-07T15:00:00+00:00"
    shop.now = datetime(2026, 3, 7, 15, 0, tzinfo=UTC) + timedelta(minutes=1)
    shop.cli("campaign", "send-due")
    assert shop.get(f"/campaigns/{created['id']}").json["next_run_at"] == "2026-03-14T14:00:00+00:00"  # 10:00 EDT


# --- one campaign fails alone; what cannot be stored or run is refused ---------------------


def _poison(shop: Merchant, campaign_id: int, audience: dict[str, Any]) -> None:
    """Store an audience around the checks, as a campaign created before them would be."""
    with shop.rt.transaction() as session:
        session.get_one(Campaign, campaign_id).audience = audience


def _clock(shop: Merchant, lines: list[str]) -> Clock:
    return Clock(shop.rt.sessions, shop.program_id, "America/New_York", (9, 0), shop.rt.enabled_channels,
                 clock=lambda: shop.now, report=lines.append)


@pytest.mark.parametrize("poison", [{"min_balance": 10**23}, {"inactive_days": 800000}, {"tier": 5}])
def test_a_campaign_that_cannot_run_fails_alone(any_shop: Merchant, poison: dict[str, Any]) -> None:
    shop = any_shop
    bad = shop.post("/campaigns", {"name": "Broken", "text": "Never", "now": True}).json["id"]
    good = shop.post("/campaigns", {"name": "Hello", "text": "Hi all", "now": True}).json["id"]
    _poison(shop, bad, poison)
    filter_name = next(iter(poison))
    assert shop.get(f"/campaigns/{bad}/preview").status_code == 422
    assert f"audience {filter_name}:" in shop.get(f"/campaigns/{bad}/preview").json["message"]

    lines: list[str] = []
    _clock(shop, lines).run("campaigns")
    assert [m.payload["text"] for m in shop.messages()] == ["Hi all"] * 3  # the good one went out
    failed = [line for line in lines if "failed" in line]
    assert len(failed) == 1 and f'campaign {bad} "Broken" failed and will not run again: audience {filter_name}:' in failed[0]
    shown = shop.get(f"/campaigns/{bad}").json
    assert shown["status"] == "failed" and shown["failed_reason"].startswith(f"audience {filter_name}:")
    assert shown["next_run_at"] is None and shop.get(f"/campaigns/{good}").json["status"] == "sent"
    cli = shop.cli("campaign", "show", str(bad)).output
    assert '"Broken": failed' in cli and f"failed 2026-03-02 10:00 EST: audience {filter_name}:" in cli

    lines.clear()
    _clock(shop, lines).run("campaigns")  # said once: a failed campaign is not due again
    assert lines == []
    assert shop.post(f"/campaigns/{bad}/cancel").json["status"] == "cancelled"


def test_any_error_in_a_run_fails_that_campaign_only(shop: Merchant, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = shop.post("/campaigns", {"name": "Broken", "text": "Never", "now": True}).json["id"]
    shop.post("/campaigns", {"name": "Hello", "text": "Hi all", "now": True})
    real = scheduler_campaigns.fan_out

    def fan_out(session: Any, campaign: Campaign, *args: Any, **kwargs: Any) -> Any:
        if campaign.id == bad:
            raise ValueError("year 10000 is out of range\nsecond line not shown")
        return real(session, campaign, *args, **kwargs)

    monkeypatch.setattr(scheduler_campaigns, "fan_out", fan_out)
    sent = shop.cli("campaign", "send-due")
    assert f'campaign {bad} "Broken" failed: ValueError: year 10000 is out of range' in sent.output
    assert "3 messages queued" in sent.output and "second line" not in sent.output
    assert shop.get(f"/campaigns/{bad}").json["failed_reason"] == "ValueError: year 10000 is out of range"


@pytest.mark.parametrize(("audience", "message"), [
    ({"min_balance": 100000000000000000000000}, "audience min_balance: must be 0 to 1,000,000,000"),
    ("inactive_days=800000", "audience inactive_days: must be 1 to 3,650"),
    ({"birthday_month": 13}, "audience birthday_month: must be 1 to 12"),
    ({"joined_after": "0001-01-01"}, "audience joined_after: must be from 1900-01-01 to 2199-12-31"),
    ({"joined_before": "9999-12-31"}, "audience joined_before: must be from 1900-01-01 to 2199-12-31"),
])
def test_out_of_range_audiences_are_refused_naming_the_filter(shop: Merchant, audience: Any, message: str) -> None:
    response = shop.post("/campaigns", {"name": "x", "text": "y", "now": True, "audience": audience})
    assert response.status_code == 422 and message in response.json["message"], response.json
    text = audience if isinstance(audience, str) else ",".join(f"{k}={v}" for k, v in audience.items())
    for command in ("create", "preview"):
        result = shop.cli("campaign", command, *(("--name", "x", "--text", "y") if command == "create" else ()),
                          "--audience", text, "--now")
        assert result.exit_code == 1 and message in result.output and len(result.output.strip().splitlines()) == 1
    assert shop.get("/campaigns").json["campaigns"] == [] and shop.messages() == []


@pytest.mark.parametrize(("body", "message"), [
    ({"send_at": "9999-12-31 23:00"}, "send_at 9999-12-31 is out of range"),
    ({"send_at": "9999-12-31T23:59:59-12:00"}, "send_at 9999-12-31 is out of range"),
    ({"send_at": "2026-03-07 10:00", "offer": {"kind": "multiplier", "factor": 2, "starts_at": "2026-03-07",
                                              "ends_at": "9999-12-31"}}, "offer.ends_at 9999-12-31 is out of range"),
    ({"now": True, "name": "nul\x00"}, "name: contains a NUL character"),
    ({"now": True, "text": "lone \ud800 surrogate"}, "text: contains an unpaired surrogate"),
    ({"now": True, "image_url": "https://x/\x00.png"}, "image_url: contains a NUL character"),
    ({"now": True, "image_url": "http://example.com/a.png"}, "image_url: must be a web address starting with https://"),
    ({"cron": "0 １０ * * SAT"}, 'the hour field has "１０", not a number (digits 0-9)'),
    ({"cron": "0 " + ",".join(map(str, range(24))) + " " + ",".join(map(str, range(1, 32))) + " * *"},
     "cron: must be a text of at most 100 characters"),
    ({"now": True, "offer": {"kind": "multiplier", "factor": "２", "starts_at": "2026-03-07", "ends_at": "2026-03-08"}},
     "offer.factor: must be a number like 2 or 1.5"),
])
def test_what_a_database_or_the_calendar_cannot_take_is_refused(any_shop: Merchant, body: dict[str, Any],
                                                                message: str) -> None:
    response = any_shop.post("/campaigns", {"name": "x", "text": "y"} | body)
    assert response.status_code == 422 and message in response.json["message"], response.json
    assert any_shop.get("/campaigns").json["campaigns"] == []


@pytest.mark.parametrize("campaign_id", ["99999999999999999999999", "99999999999", "2147483648", "١", "1.0", "0"])
def test_ids_no_campaign_can_have_are_not_found(any_shop: Merchant, campaign_id: str) -> None:
    any_shop.post("/campaigns", {"name": "x", "text": "y", "now": True})
    for path in (f"/campaigns/{campaign_id}", f"/campaigns/{campaign_id}/preview"):
        assert any_shop.get(path).status_code == 404, path
    assert any_shop.post(f"/campaigns/{campaign_id}/cancel").status_code == 404
    for args in (("show", campaign_id), ("preview", campaign_id), ("cancel", campaign_id),
                 ("test-send", campaign_id, "--to", BEN)):
        result = any_shop.cli("campaign", *args)
        assert result.exit_code == 1 and f"no campaign {campaign_id}" in result.output, args


def test_the_cli_refuses_text_no_database_stores(any_shop: Merchant) -> None:
    result = any_shop.cli("campaign", "create", "--name", "x", "--text", "bad \udcff byte", "--now")
    assert result.exit_code == 1 and "text: contains an unpaired surrogate" in result.output
    assert any_shop.get("/campaigns").json["campaigns"] == []
