"""What an operator has after a provider outage: ``loyalty outbox retry`` and
``GET /healthz/details``."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select
from support import T0

from rewards import channel_health, outbox
from rewards.models import OutboxMessage, Program
from web.app import create_app
from web.cli import cli
from web.settings import Settings

PHONE = "+15550000002"


@pytest.fixture
def app(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path / 'ops.db'}",
                                  "LOYALTY_QR_DIR": str(tmp_path / "qr")})
    return create_app(settings)


def run(app, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: app), catch_exceptions=False)


def put(app, channel: str, address: str, status: str, error: str, key: str | None = None) -> int:  # type: ignore[no-untyped-def]
    rt = app.extensions["loyalty"]
    with rt.transaction() as s:
        program_id = s.scalar(select(Program.id))
        row_id = outbox.enqueue(s, program_id, channel, address, {"text": "Sale!"}, "campaign", T0, dedupe_key=key)
        s.get(OutboxMessage, row_id).status, s.get(OutboxMessage, row_id).error = status, error
        s.get(OutboxMessage, row_id).attempts = 7
    return int(row_id)


def state(app, row_id: int) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    with app.extensions["loyalty"].sessions() as s:
        row = s.get(OutboxMessage, row_id)
        return row.status, row.attempts


def test_outbox_retry_queues_again_what_failed_by_channel_campaign_and_status(app) -> None:  # type: ignore[no-untyped-def]
    assert run(app, "demo").exit_code == 0
    nothing = run(app, "outbox", "retry")
    assert nothing.exit_code == 0 and nothing.output == "nothing to retry: no message failed\n"

    campaign_7 = put(app, "telegram", "1001", "failed", "TelegramUnavailable('telegram: Bad Gateway')", "campaign:7:1:1")
    campaign_70 = put(app, "telegram", "1002", "failed", "TelegramUnavailable('telegram: Bad Gateway')", "campaign:70:1:2")
    sms = put(app, "sms", PHONE, "failed", "TwilioError(503, None)")
    stale = put(app, "telegram", "1003", "skipped", "stale: not sent within 24 hours of being queued; last error: x")
    blocked = put(app, "telegram", "1004", "skipped", "unreachable: telegram: Forbidden: bot was blocked by the user")

    one = run(app, "outbox", "retry", "--channel", "telegram", "--campaign", "7")
    assert one.exit_code == 0
    assert one.output.startswith("queued again: 1 message on telegram of campaign 7 failed before")
    assert state(app, campaign_7) == ("queued", 0) and state(app, campaign_70)[0] == "failed"
    assert run(app, "outbox", "retry", "--channel", "whatsapp").output == "nothing to retry: no message on whatsapp failed\n"
    assert run(app, "outbox", "retry").output.startswith("queued again: 2 messages failed before")
    assert state(app, campaign_70) == state(app, sms) == ("queued", 0)

    skipped = run(app, "outbox", "retry", "--status", "skipped")
    assert skipped.output.startswith("queued again: 1 message skipped as stale before")
    assert state(app, stale) == ("queued", 0)
    assert state(app, blocked) == ("skipped", 7)  # skipped on purpose: left alone

    wrong = run(app, "outbox", "retry", "--status", "sent")
    assert wrong.exit_code == 2 and "'sent' is not one of 'failed', 'skipped'" in wrong.output


def test_healthz_details_says_which_channel_is_failing_without_personal_data(app) -> None:  # type: ignore[no-untyped-def]
    assert run(app, "demo").exit_code == 0
    client = app.test_client()
    healthy = client.get("/healthz/details")
    assert healthy.status_code == 200 and healthy.get_json() == {"status": "ok", "failing": [], "channels": []}
    assert client.get("/healthz").get_json() == {"status": "ok"}  # unchanged

    waiting = put(app, "sms", PHONE, "queued", "TwilioError(503, None)")
    rt = app.extensions["loyalty"]
    now = rt.clock()
    with rt.transaction() as s:
        s.get(OutboxMessage, waiting).created_at = now - timedelta(seconds=95)
        s.get(OutboxMessage, waiting).available_at = now - timedelta(seconds=1)
        channel_health.note_failure(s, "sms", "TwilioError(503, None)", now - timedelta(seconds=90))
        channel_health.note_failure(s, "sms", "TwilioError(502, None)", now - timedelta(seconds=30))
    body = client.get("/healthz/details").get_json()
    assert body["status"] == "failing" and body["failing"] == ["sms"]
    [sms] = body["channels"]
    assert sms["queued"] == 1 and sms["retrying"] == 1 and 95 <= sms["oldest_waiting_seconds"] < 100
    assert sms["consecutive_failures"] == 2 and sms["last_error"] == "TwilioError(502, None)"
    assert sms["failing_since"] == (now - timedelta(seconds=90)).isoformat()
    assert PHONE[1:] not in client.get("/healthz/details").get_data(as_text=True)

    with rt.transaction() as s:
        assert channel_health.note_recovery(s, "sms", now)
    [sms] = client.get("/healthz/details").get_json()["channels"]
    assert sms["failing"] is False and sms["failing_since"] is None and sms["consecutive_failures"] == 0


def test_the_workers_progress_line_names_a_failing_channel() -> None:
    from web.sender_runtime import describe_health

    since = T0 - timedelta(seconds=95)
    reports = [channel_health.ChannelReport("sms", 3),
               channel_health.ChannelReport("telegram", 50, 50, 95, since, 212, "TelegramUnavailable('telegram: Bad Gateway')")]
    assert describe_health(reports, T0) == (
        "53 waiting; telegram FAILING for 95 s (212 failures in a row, 50 waiting, oldest 95 s;"
        " last error: TelegramUnavailable('telegram: Bad Gateway'))")
    assert describe_health(reports[:1], T0) == "3 waiting"
