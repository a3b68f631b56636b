"""A webhook that arrives before any program is loaded is answered 503 (the provider
retries later), never 500, and leaves nothing behind; once a program is loaded it works."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from fakes.telegram_api import FakeTelegram, text_update
from fakes.twilio_api import FakeTwilio
from flask.cli import ScriptInfo
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from rewards.models import InboundMessage, OutboxMessage
from web.app import create_app
from web.cli import cli
from web.providers.telegram import SECRET_HEADER
from web.settings import Settings

PUBLIC = "https://loyalty.example"


def test_webhooks_before_any_program_answer_503_then_work_once_one_is_loaded(tmp_path: Path) -> None:
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        app = create_app(Settings.from_env({
            "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "LOYALTY_QR_DIR": str(tmp_path / "qr"),
            "PUBLIC_BASE_URL": PUBLIC, "TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_WEBHOOK_SECRET": "s3cret",
            "TELEGRAM_API_BASE_URL": telegram.base_url, "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": twilio.auth_token, "TWILIO_SMS_FROM": "+15550009999",
            "TWILIO_API_BASE_URL": twilio.base_url,
        }))
        client = app.test_client()
        rt = app.extensions["loyalty"]
        form = {"From": "+15550001111", "To": "+15550009999", "Body": "hi", "MessageSid": "SM" + "1" * 32}
        signature = RequestValidator(twilio.auth_token).compute_signature(PUBLIC + "/webhooks/sms", form)

        def post_both() -> tuple[int, int]:
            tg = client.post("/webhooks/telegram", data=json.dumps(text_update(1, 77, "hi")),
                             headers={SECRET_HEADER: "s3cret", "Content-Type": "application/json"})
            sms = client.post("/webhooks/sms", data=form, headers={"X-Twilio-Signature": signature})
            return tg.status_code, sms.status_code

        assert post_both() == (503, 503)
        with rt.transaction() as session:
            assert session.scalar(select(func.count()).select_from(InboundMessage)) == 0
            assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        result = CliRunner().invoke(cli, ["demo"], obj=ScriptInfo(create_app=lambda: app))
        assert result.exit_code == 0, result.output
        assert post_both() == (200, 200)  # the providers' retries
        with rt.transaction() as session:
            assert session.scalar(select(func.count()).select_from(InboundMessage)) == 2
            assert {row.channel for row in session.scalars(select(OutboxMessage))} == {"telegram", "sms"}
