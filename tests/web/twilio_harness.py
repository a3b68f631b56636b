"""What the Twilio webhook tests share: an app with WhatsApp and SMS on, its sender, the
fake Twilio server and a clock the tests move (test_twilio_webhooks.py, test_twilio_delivery.py).
Fixtures ``fake``, ``tw`` and ``any_tw`` (SQLite and PostgreSQL): import ``fixtures``'s names."""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes.twilio_api import FakeTwilio
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support import NO_POSTGRES, POSTGRES_URL, T0, drop_postgres_schema, migrated_sqlite_url
from twilio.request_validator import RequestValidator

from bot.messages import Reply
from bot.outbox_payload import to_payload
from channels.sender import Sender
from rewards import ledger, members, outbox
from rewards.events import PointsEarned
from rewards.models import Identity, InboundMessage, OutboxMessage
from rewards.program.config import DEMO_PROGRAM_PATH
from web import providers
from web.app import create_app
from web.inbox import notify
from web.runtime import Runtime
from web.settings import Settings

PUBLIC = "https://loyalty.example.com"
SMS_FROM, WA_FROM = "+15550100000", "whatsapp:+15550100001"
ANA, BRUNO = "+15550001111", "+15550002222"
TEMPLATE = "HX" + "0123456789abcdef" * 2


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Twilio:
    """One app with WhatsApp and SMS on, its sender, the fake Twilio, and a clock."""

    def __init__(self, app: Flask, fake: FakeTwilio, clock: Clock) -> None:
        self.app, self.fake, self.clock = app, fake, clock
        self.rt: Runtime = app.extensions["loyalty"]
        self.rt.clock = clock
        self.client = app.test_client()
        self.validator = RequestValidator(fake.auth_token)
        self.monotonic = 1000.0
        adapters = providers.build_adapters(self.rt.settings, self.rt.sessions, clock)
        self.sender = Sender(self.rt.sessions, {name: a for name, a in adapters.items() if name in ("whatsapp", "sms")},
                             clock=clock, monotonic=lambda: self.monotonic)
        self._sids = itertools.count(1)
        with self.rt.transaction() as session:
            program, _ = self.rt.program(session)
            self.program_id = program.id

    # -- Twilio's side ------------------------------------------------------------------------

    def form(self, channel: str, phone: str, text: str, sid: str | None = None, **extra: str) -> dict[str, str]:
        prefix = "whatsapp:" if channel == "whatsapp" else ""
        return {
            "MessageSid": sid or f"SM{next(self._sids):032x}", "AccountSid": self.fake.account_sid,
            "From": prefix + phone, "To": WA_FROM if channel == "whatsapp" else SMS_FROM, "Body": text,
            "NumMedia": "0", "NumSegments": "1", "ApiVersion": "2010-04-01", **extra,
        }

    def post(self, path: str, form: dict[str, str], *, signed_url: str | None = None, signature: str | None = None,
             base_url: str = "http://localhost", headers: dict[str, str] | None = None) -> Any:
        """POST as Twilio does: signed over the URL it was told (PUBLIC_BASE_URL + path)."""
        if signature is None:
            signature = self.validator.compute_signature(signed_url or PUBLIC + path, form)
        headers = {**(headers or {}), **({"X-Twilio-Signature": signature} if signature else {})}
        return self.client.post(path, data=form, headers=headers, base_url=base_url)

    def say(self, channel: str, phone: str, text: str, **extra: str) -> Any:
        response = self.post(f"/webhooks/{channel}", self.form(channel, phone, text, **extra))
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "text/xml" and b"<Response/>" in response.data
        self.deliver()
        return response

    def status(self, form: dict[str, str]) -> Any:
        return self.post("/webhooks/twilio/status", form)

    # -- ours --------------------------------------------------------------------------------------

    def deliver(self) -> None:
        while self.sender.run_once():
            pass

    def bodies(self, phone: str) -> list[str]:
        return [m.body or "" for m in self.fake.sent(phone)]

    def join(self, channel: str, phone: str) -> None:
        self.say(channel, phone, "hi")
        self.say(channel, phone, "yes")
        assert any("You're in!" in body for body in self.bodies(phone))

    def counts(self) -> tuple[int, int, int]:
        with self.rt.transaction() as session:
            return (session.scalar(select(func.count()).select_from(InboundMessage)) or 0,
                    session.scalar(select(func.count()).select_from(Identity)) or 0,
                    session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)

    def identity(self, channel: str, phone: str) -> Identity:
        with self.rt.transaction() as session:
            found = session.scalar(select(Identity).where(Identity.channel == channel, Identity.address == phone))
            assert found is not None
            session.expunge(found)
            return found

    def rows(self, channel: str | None = None) -> list[OutboxMessage]:
        with self.rt.transaction() as session:
            query = select(OutboxMessage).order_by(OutboxMessage.id)
            found = list(session.scalars(query if channel is None else query.where(OutboxMessage.channel == channel)))
            session.expunge_all()
            return found

    def notice(self, phone: str, text: str = "You earned 10 points.") -> None:
        """Queue a notice for the member with this phone, the way the domain does."""
        with self.rt.transaction() as session:
            member = members.find(session, self.program_id, phone)
            notify(session, [PointsEarned(member.id, 10, member.balance, "adjust")], self.clock(), self.rt.enabled_channels)
        self.deliver()

    def queue(self, channel: str, phone: str, text: str, kind: str = "notice") -> None:
        with self.rt.transaction() as session:
            outbox.enqueue(session, self.program_id, channel, phone, to_payload(Reply(text, kind="notice")), kind, self.clock())

    def give_points(self, phone: str, points: int) -> None:
        with self.rt.transaction() as session:
            member = members.find(session, self.program_id, phone)
            ledger.post(session, member, points, "adjust", f"test:{phone}:{points}", "test", self.clock())

    def audit(self) -> None:
        with Session(self.rt.engine) as session:
            report = ledger.audit(session)
        assert report.ok, "\n".join(report.lines())


def _settings(url: str, tmp_path: Path, fake: FakeTwilio, **env: str) -> Settings:
    return Settings.from_env({
        "DATABASE_URL": url, "LOYALTY_QR_DIR": str(tmp_path / "qr"), "PUBLIC_BASE_URL": PUBLIC,
        "SECRET_KEY": "test-secret-key", "TWILIO_ACCOUNT_SID": fake.account_sid, "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_SMS_FROM": SMS_FROM, "TWILIO_WHATSAPP_FROM": WA_FROM, "TWILIO_API_BASE_URL": fake.base_url, **env,
    })


def _program(tmp_path: Path, template: str | None) -> Path:
    if template is None:
        return DEMO_PROGRAM_PATH
    path = tmp_path / "program.toml"
    path.write_text(DEMO_PROGRAM_PATH.read_text(encoding="utf-8").replace(
        '# notice_template_sid = "HX0123456789abcdef0123456789abcdef"', f'notice_template_sid = "{template}"'), encoding="utf-8")
    return path


@pytest.fixture(name="fake")
def fake_fixture() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


def _sqlite(tmp_path: Path, fake: FakeTwilio, template: str | None = None, **env: str) -> Twilio:
    app = create_app(_settings(migrated_sqlite_url(tmp_path / 'twilio.db'), tmp_path, fake, **env))
    app.extensions["loyalty"].load_program_file(_program(tmp_path, template))
    return Twilio(app, fake, Clock())


@pytest.fixture(name="tw")
def tw_fixture(tmp_path: Path, fake: FakeTwilio) -> Iterator[Twilio]:
    made = _sqlite(tmp_path, fake)
    yield made
    made.audit()
    made.rt.engine.dispose()


@pytest.fixture(name="any_tw", params=["sqlite", "postgres"])
def any_tw_fixture(request: pytest.FixtureRequest, tmp_path: Path, fake: FakeTwilio) -> Iterator[Twilio]:
    """The same on SQLite and (with LOYALTY_TEST_POSTGRES_URL) a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield request.getfixturevalue("tw")
        return
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    from support import migrated_postgres_url

    url, schema = migrated_postgres_url()
    app = create_app(_settings(url, tmp_path, fake))
    try:
        app.extensions["loyalty"].load_program_file(DEMO_PROGRAM_PATH)
        made = Twilio(app, fake, Clock())
        yield made
        made.audit()
    finally:
        app.extensions["loyalty"].engine.dispose()
        drop_postgres_schema(schema)
