"""Property-based fuzzing (Hypothesis) of every JSON and form endpoint and of the chat text
through the bot, on SQLite and PostgreSQL: whatever the body, never a 5xx, and a request
answered 4xx changes nothing in the database (every table's row count, balances, stock,
statuses). Webhooks are fuzzed with valid secrets and signatures, so the bodies get past
the door.

Kept quick for the suite: LOYALTY_FUZZ_EXAMPLES examples per property (default 25; raise it
for a longer hunt: ``LOYALTY_FUZZ_EXAMPLES=500 pytest -n 0 tests/web/test_fuzz.py``). A
failure prints the shrunk example and a ``@reproduce_failure`` line to replay it.
"""
from __future__ import annotations

import itertools
import json
import os
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fakes.telegram_api import FakeTelegram, button_update, text_update
from flask.cli import ScriptInfo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support import NO_POSTGRES, POSTGRES_URL, drop_postgres_schema, migrated_sqlite_url
from twilio.request_validator import RequestValidator

from rewards import apikeys, ledger
from rewards.models import Base, Campaign, Code, CodeAttempt, Member, OutboxMessage, Reward
from web.app import create_app
from web.cli import cli
from web.providers.telegram import SECRET_HEADER
from web.settings import Settings

FUZZ = settings(
    max_examples=int(os.environ.get("LOYALTY_FUZZ_EXAMPLES", "25")), deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
PUBLIC = "https://loyalty.example.com"
SECRET = "fuzz-webhook-secret"
SMS_FROM, WA_FROM = "+15550100000", "whatsapp:+15550100001"
PHONES = ["+15550000002", "+15550000003", "+15550001111", "+15550002222", "+34600000001"]
CSRF = {"X-Loyalty-Chat": "1"}

# --- strategies -------------------------------------------------------------------------------

# Text as a form can carry it (no lone surrogates: a URL-encoded form is UTF-8).
form_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
tricky = st.sampled_from([
    "", " ", "0", "-1", "12.50", "1e9", "1e400", "NaN", "99999999999999999999999", "٣٤", "１２", "+15550000002",
    "7KQ2M9XA", "K7QM-3XPA-9RT2W", "\x00", "\ud800", "\u202e", "all", "tier=Gold", "2026-03-02 10:00", "9999-12-31",
    "0 10 * * SAT", "* * * * *", "https://example.com/a.png", "http://example.com/a.png", "x" * 300,
])
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=40), tricky)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=12) | tricky, inner, max_size=4), max_leaves=12)


def objects(*fields: str, values: st.SearchStrategy[Any] = scalars | json_values) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts with any of ``fields`` (each any value) and now and then a stray key."""
    return st.fixed_dictionaries({}, optional={name: values for name in fields}).flatmap(
        lambda body: st.dictionaries(st.text(max_size=8), json_values, max_size=2).map(lambda extra: {**extra, **body}))


raw_bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 3000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
)
path_texts = st.one_of(st.text(min_size=1, max_size=30), tricky.filter(bool), st.integers().map(str)).map(
    lambda text: urllib.parse.quote(text.encode("utf-8", "surrogatepass"), safe=""))


# --- the site -------------------------------------------------------------------------------------


class Site:
    """One app with every surface on (API, /chat, Telegram, WhatsApp, SMS), the demo loaded."""

    def __init__(self, url: str, tmp_path: Path, telegram: FakeTelegram) -> None:
        self.app = create_app(Settings.from_env({
            "DATABASE_URL": url, "LOYALTY_QR_DIR": str(tmp_path / "qr"), "PUBLIC_BASE_URL": PUBLIC,
            "SECRET_KEY": "fuzz-secret-key", "TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_API_BASE_URL": telegram.base_url, "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": "fuzz-auth-token", "TWILIO_SMS_FROM": SMS_FROM, "TWILIO_WHATSAPP_FROM": WA_FROM,
        }))
        self.rt = self.app.extensions["loyalty"]
        result = CliRunner().invoke(cli, ["demo"], obj=ScriptInfo(create_app=lambda: self.app))
        assert result.exit_code == 0, result.output
        self.client = self.app.test_client()
        with self.rt.transaction() as session:
            program, _ = self.rt.program(session)
            _, key = apikeys.create(session, program.id, "fuzz", self.rt.clock())
        self.auth = {"Authorization": f"Bearer {key}"}
        self.validator = RequestValidator("fuzz-auth-token")
        self.ids = itertools.count(1)

    def snapshot(self, *, besides: tuple[type, ...] = ()) -> dict[str, Any]:
        """What a refused request must leave as it was: every table's rows, and the values
        that change in place (balances, stock, code, campaign and outbox statuses)."""
        skip = {model.__tablename__ for model in besides}
        with Session(self.rt.engine) as session:
            found: dict[str, Any] = {
                table.name: session.scalar(select(func.count()).select_from(table))
                for table in Base.metadata.sorted_tables if table.name not in skip
            }
            found["balances"] = tuple(session.execute(select(Member.id, Member.balance).order_by(Member.id)))
            found["stock"] = tuple(session.scalars(select(Reward.stock).order_by(Reward.id)))
            found["codes"] = tuple(session.scalars(select(Code.status).order_by(Code.id)))
            found["campaigns"] = tuple(session.scalars(select(Campaign.status).order_by(Campaign.id)))
            found["outbox"] = tuple(session.scalars(select(OutboxMessage.status).order_by(OutboxMessage.id)))
        return found

    def check(self, send: Callable[[], Any], *, besides: tuple[type, ...] = ()) -> Any:
        """``send()``, then: no 5xx, and nothing changed if it was refused."""
        before = self.snapshot(besides=besides)
        response = send()
        assert response.status_code < 500, response.get_data(as_text=True)[:500]
        if 400 <= response.status_code < 500:
            assert self.snapshot(besides=besides) == before, f"a {response.status_code} changed the database"
        return response

    def signed_post(self, path: str, form: dict[str, str]) -> Any:
        signature = self.validator.compute_signature(PUBLIC + path, form)
        return self.client.post(path, data=form, headers={"X-Twilio-Signature": signature})

    def audit(self) -> None:
        with Session(self.rt.engine) as session:
            report = ledger.audit(session)
        assert report.ok, "\n".join(report.lines())


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture(params=["sqlite", "postgres"])
def site(request: pytest.FixtureRequest, tmp_path: Path, telegram: FakeTelegram) -> Iterator[Site]:
    schema = None
    if request.param == "sqlite":
        url = migrated_sqlite_url(tmp_path / "fuzz.db")
    else:
        if not POSTGRES_URL:
            pytest.skip(NO_POSTGRES)
        from support import migrated_postgres_url

        url, schema = migrated_postgres_url()
    made = Site(url, tmp_path, telegram)
    try:
        yield made
        made.audit()
    finally:
        made.rt.engine.dispose()
        if schema:
            drop_postgres_schema(schema)


# --- the properties ----------------------------------------------------------------------------------


def test_the_rest_api_never_fails_and_a_refusal_changes_nothing(site: Site) -> None:
    purchase = objects("customer", "amount", "receipt_id", values=scalars | st.sampled_from(PHONES))

    @FUZZ
    @given(body=purchase, raw=raw_bodies, ref=path_texts, which=st.integers(0, 4))
    def hit(body: dict[str, Any], raw: bytes, ref: str, which: int) -> None:
        api = "/api/v1"
        if which == 0:
            site.check(lambda: site.client.post(f"{api}/purchases", json=body, headers=site.auth))
        elif which == 1:
            site.check(lambda: site.client.post(f"{api}/purchases", data=raw, headers=site.auth,
                                                content_type="application/json"))
        elif which == 2:
            site.check(lambda: site.client.post(f"{api}/purchases/{ref}/refund", headers=site.auth))
        elif which == 3:
            site.check(lambda: site.client.get(f"{api}/members/{ref}", headers=site.auth))
        else:  # a wrong code is counted toward the throttle, on purpose
            site.check(lambda: site.client.post(f"{api}/codes/{ref}/redeem", headers=site.auth), besides=(CodeAttempt,))

    hit()


when = st.one_of(tricky, st.just("9999-12-31 23:59"), st.datetimes().map(str),
                 st.datetimes().map(lambda d: d.isoformat() + "+00:00"))
CAMPAIGN_FIELDS = ("name", "text", "image_url", "audience", "send_at", "cron", "now", "offer")
huge = st.integers(2**31 - 2, 10**30)  # past 32- and 64-bit columns, dates and timedeltas
numbers = st.one_of(st.integers(), huge, huge.map(str), st.floats(), tricky)
FILTER_NAMES = ("tier", "channel", "language", "inactive_days", "birthday_month", "min_balance", "joined_after",
                "joined_before", "has_redeemed")
one_filter = st.sampled_from(FILTER_NAMES).flatmap(lambda name: st.one_of(numbers, when).map(lambda value: {name: value}))
audiences = st.one_of(one_filter, one_filter, json_values, tricky)
offers = st.fixed_dictionaries({"kind": st.sampled_from(["multiplier", "coupon"]), "factor": numbers, "starts_at": when,
                                "ends_at": when, "reward": tricky | st.just("free-coffee")})
# Mostly right, one thing odd: what gets past the field checks to the clock and the preview.
campaigns = st.fixed_dictionaries(
    {"name": st.just("Sale") | st.text(min_size=1, max_size=30), "text": st.just("Double points!") | st.text(min_size=1)},
    optional={"audience": audiences, "image_url": tricky, "offer": offers | json_values},
).flatmap(lambda body: st.one_of(
    st.just({**body, "now": True}), when.map(lambda at: {**body, "send_at": at}), tricky.map(lambda c: {**body, "cron": c})))


def test_campaign_bodies_never_fail_and_a_refusal_changes_nothing(site: Site) -> None:
    @FUZZ
    @given(body=objects(*CAMPAIGN_FIELDS), raw=raw_bodies, which=st.booleans())
    def hit(body: dict[str, Any], raw: bytes, which: bool) -> None:
        if which:
            site.check(lambda: site.client.post("/api/v1/campaigns", json=body, headers=site.auth))
        else:
            site.check(lambda: site.client.post("/api/v1/campaigns", data=raw, headers=site.auth,
                                                content_type="application/json"))

    hit()


def test_campaign_ids_and_well_formed_campaigns_never_fail(site: Site) -> None:
    @FUZZ
    @given(body=campaigns, ref=path_texts, which=st.integers(0, 3))
    def hit(body: dict[str, Any], ref: str, which: int) -> None:
        api = "/api/v1/campaigns"
        if which == 0:
            created = site.check(lambda: site.client.post(api, json=body, headers=site.auth))
            if created.status_code == 201:  # what the merchant sees of it next, and what the clock does with it
                ref = str(created.json["id"])
                site.check(lambda: site.client.get(f"{api}/{ref}/preview", headers=site.auth))
                assert CliRunner().invoke(cli, ["campaign", "send-due"], obj=ScriptInfo(create_app=lambda: site.app)
                                          ).exception is None
        elif which == 1:
            site.check(lambda: site.client.get(f"{api}/{ref}", headers=site.auth))
        elif which == 2:
            site.check(lambda: site.client.get(f"{api}/{ref}/preview", headers=site.auth))
        else:
            site.check(lambda: site.client.post(f"{api}/{ref}/cancel", headers=site.auth))

    hit()


def test_the_chat_page_and_the_bot_never_fail_on_any_text(site: Site) -> None:
    message = objects("phone", "text", "payload", "id", values=scalars | st.sampled_from(PHONES))
    said = st.fixed_dictionaries({"phone": st.sampled_from(PHONES), "text": st.text(max_size=80) | tricky})

    @FUZZ
    @given(body=message, chat=said, raw=raw_bodies, query=st.dictionaries(st.sampled_from(["phone", "after"]), path_texts),
           which=st.integers(0, 3))
    def hit(body: dict[str, Any], chat: dict[str, Any], raw: bytes, query: dict[str, str], which: int) -> None:
        if which == 0:
            site.check(lambda: site.client.post("/chat/messages", json=body, headers=CSRF))
        elif which == 1:  # a customer's words, whatever they are, through the bot
            site.check(lambda: site.client.post("/chat/messages", json={**chat, "id": f"fuzz-{next(site.ids):06d}"},
                                                headers=CSRF))
        elif which == 2:
            site.check(lambda: site.client.post("/chat/messages", data=raw, headers=CSRF, content_type="application/json"))
        else:
            site.check(lambda: site.client.get("/chat/messages?" + "&".join(f"{k}={v}" for k, v in query.items())))

    hit()


def test_the_telegram_webhook_never_fails_on_any_update(site: Site) -> None:
    chats = st.integers(-(2**53), 2**53)

    @FUZZ
    @given(raw=raw_bodies, value=json_values, chat=chats, text=st.text(max_size=80) | tricky, which=st.integers(0, 3))
    def hit(raw: bytes, value: Any, chat: int, text: str, which: int) -> None:
        update_id = next(site.ids)
        if which == 0:
            body = raw
        elif which == 1:
            body = json.dumps({"update_id": update_id, "message": value}).encode()
        elif which == 2:
            body = json.dumps(text_update(update_id, chat, text)).encode()
        else:
            body = json.dumps(button_update(update_id, chat, text)).encode()
        site.check(lambda: site.client.post("/webhooks/telegram", data=body, headers={SECRET_HEADER: SECRET},
                                            content_type="application/json"))

    hit()


def test_the_twilio_webhooks_never_fail_on_any_signed_form(site: Site) -> None:
    names = st.sampled_from(["MessageSid", "From", "To", "Body", "NumMedia", "OptOutType", "MessageStatus", "ErrorCode",
                             "AccountSid", "SmsSid"]) | st.text(max_size=10)
    any_form = st.dictionaries(names, form_text | tricky.filter(lambda t: "\ud800" not in t), max_size=8)
    phones = st.sampled_from(PHONES) | form_text

    @FUZZ
    @given(form=any_form, phone=phones, text=form_text | tricky.filter(lambda t: "\ud800" not in t),
           path=st.sampled_from(["/webhooks/sms", "/webhooks/whatsapp", "/webhooks/twilio/status"]), which=st.integers(0, 1))
    def hit(form: dict[str, str], phone: str, text: str, path: str, which: int) -> None:
        if which == 1 and path != "/webhooks/twilio/status":  # a well-formed message, any words
            whatsapp = path.endswith("whatsapp")
            form = {"MessageSid": f"SM{next(site.ids):032x}", "AccountSid": "AC" + "0" * 32, "NumMedia": "0",
                    "From": ("whatsapp:" if whatsapp else "") + phone, "To": WA_FROM if whatsapp else SMS_FROM, "Body": text}
        elif which == 1:
            form = {"MessageSid": f"SM{next(site.ids):032x}", "MessageStatus": text, "To": phone, **form}
        site.check(lambda: site.signed_post(path, form))

    hit()
