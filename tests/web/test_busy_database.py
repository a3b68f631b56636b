"""A database that is busy, racing or gone: a transaction that lost a race runs again
(Runtime.run), the customer always gets an answer, and what cannot be retried is a 503
(the provider redelivers; the API's caller tries again), never a 500."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import psycopg.errors
import pytest
from fakes.telegram_api import text_update
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from twilio_harness import (  # noqa: F401 - the fixtures
    ANA,
    PUBLIC,
    Twilio,
    any_tw_fixture,
    fake_fixture,
    tw_fixture,
)

from bot.messages import IncomingMessage
from rewards import ledger, members
from rewards.models import Code, InboundMessage, OutboxMessage
from web.app import create_app
from web.inbox import receive
from web.providers.telegram import SECRET_HEADER
from web.settings import Settings


def _deadlock() -> OperationalError:
    return OperationalError("SELECT ... FROM members ... FOR UPDATE", {}, psycopg.errors.DeadlockDetected("deadlock detected"))


def _at_once(tw: Twilio, messages: list[tuple[str, str]]) -> list[int]:
    """Post each (channel, text) from its own thread, all released together; the statuses."""
    barrier, statuses = threading.Barrier(len(messages)), []

    def post(channel: str, text: str) -> None:
        client = tw.app.test_client()
        form = tw.form(channel, ANA, text)
        path = f"/webhooks/{channel}"
        signature = tw.validator.compute_signature(PUBLIC + path, form)
        barrier.wait()
        statuses.append(client.post(path, data=form, headers={"X-Twilio-Signature": signature}).status_code)

    threads = [threading.Thread(target=post, args=message) for message in messages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses


def test_one_member_confirming_on_sms_and_whatsapp_at_once_gets_two_answers_and_one_code(any_tw: Twilio) -> None:
    tw = any_tw
    tw.join("sms", ANA)
    tw.say("whatsapp", ANA, "balance")  # the same member, now on WhatsApp too
    for round_ in range(5):
        with tw.rt.transaction() as session:  # enough for one coffee, not two
            member = members.find(session, tw.program_id, ANA)
            ledger.post(session, member, 500 - member.balance, "bonus", f"bonus:{round_}", "a bonus", tw.clock())
        tw.say("sms", ANA, "redeem free-coffee")
        tw.say("whatsapp", ANA, "redeem free-coffee")
        sent_before = {channel: len(tw.rows(channel)) for channel in ("sms", "whatsapp")}
        statuses = _at_once(tw, [(channel, "yes") for channel in ("sms", "whatsapp")])
        assert statuses == [200, 200]
        tw.deliver()
        answers = {channel: [row.payload["text"] for row in tw.rows(channel)[sent_before[channel]:]]
                   for channel in ("sms", "whatsapp")}
        assert all(answers.values()), answers  # each confirmation got its answer
        shown = [text for texts in answers.values() for text in texts if "Show this code at the counter" in text]
        refused = [text for texts in answers.values() for text in texts if "more points" in text]
        assert (len(shown), len(refused)) == (1, 1), answers
        with tw.rt.transaction() as session:
            assert session.scalar(select(func.count(Code.id))) == round_ + 1


def _message(tw: Twilio, text: str, sid: str) -> IncomingMessage:
    return IncomingMessage(tw.program_id, "sms", ANA, text, sid, phone=ANA)


def test_a_transaction_that_lost_a_race_runs_again_from_the_start_once(tw: Twilio) -> None:
    runs: list[int] = []

    def deadlocked_once(session, message, *args):  # type: ignore[no-untyped-def]
        received = receive(session, message, *args)  # all the work done, then the database objects
        runs.append(received.queued)
        if len(runs) == 1:
            raise _deadlock()
        return received

    received = tw.rt.receive(_message(tw, "hi", "SM-race-1"), via=deadlocked_once)

    assert len(runs) == 2 and not received.duplicate and received.queued == runs[0]
    inbound, identities, outbox = tw.counts()
    assert (inbound, identities, outbox) == (1, 1, received.queued)  # the first run left nothing


def test_an_error_that_is_no_lost_race_is_not_run_again(tw: Twilio) -> None:
    runs: list[int] = []

    def broken(session, message, *args):  # type: ignore[no-untyped-def]
        runs.append(1)
        raise OperationalError("INSERT ...", {}, Exception("disk I/O error"))

    with pytest.raises(OperationalError):
        tw.rt.receive(_message(tw, "hi", "SM-broken-1"), via=broken)
    assert runs == [1]


def test_a_race_lost_every_time_is_a_503_that_the_provider_redelivers(tw: Twilio, monkeypatch: pytest.MonkeyPatch) -> None:
    def always_deadlocked(session, message, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise _deadlock()

    monkeypatch.setattr("web.providers.twilio.receive_in_core", always_deadlocked)
    response = tw.post("/webhooks/sms", tw.form("sms", ANA, "hi"))
    assert response.status_code == 503 and "database is unavailable" in response.get_data(as_text=True)
    assert tw.counts() == (0, 0, 0)
    monkeypatch.undo()
    tw.say("sms", ANA, "hi")  # Twilio's next try works
    assert tw.counts()[0] == 1


# --- the database gone ---------------------------------------------------------------------------


@pytest.fixture
def gone(tmp_path: Path):  # type: ignore[no-untyped-def]
    """An app whose database server does not answer (nothing listens on its port), as a
    gunicorn worker finds it while PostgreSQL is down."""
    return create_app(Settings.from_env({
        "DATABASE_URL": "postgresql://loyalty:secret-password@127.0.0.1:1/loyalty", "LOYALTY_QR_DIR": str(tmp_path / "qr"),
        "TELEGRAM_BOT_TOKEN": "123:" + "a" * 35, "TELEGRAM_WEBHOOK_SECRET": "s3cret", "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "token", "TWILIO_SMS_FROM": "+15550009999",
        "PUBLIC_BASE_URL": PUBLIC,
    }))


def test_healthz_says_503_with_why_when_the_database_does_not_answer(gone) -> None:  # type: ignore[no-untyped-def]
    response = gone.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable" and "cannot reach the database" in response.json["database"]
    assert "secret-password" not in response.get_data(as_text=True)


def test_healthz_is_200_while_the_database_answers(tw: Twilio) -> None:
    assert tw.client.get("/healthz").status_code == 200


def test_webhooks_and_the_api_answer_503_not_500_when_the_database_is_gone(gone) -> None:  # type: ignore[no-untyped-def]
    from twilio.request_validator import RequestValidator

    client = gone.test_client()
    telegram = client.post("/webhooks/telegram", data=json.dumps(text_update(1, 77, "hi")),
                           headers={SECRET_HEADER: "s3cret", "Content-Type": "application/json"})
    form = {"From": ANA, "To": "+15550009999", "Body": "hi", "MessageSid": "SM" + "1" * 32}
    sms = client.post("/webhooks/sms", data=form,
                      headers={"X-Twilio-Signature": RequestValidator("token").compute_signature(PUBLIC + "/webhooks/sms", form)})
    chat = client.post("/chat/messages", json={"phone": ANA, "text": "hi"}, headers={"X-Loyalty-Chat": "1"})
    api = client.get(f"/api/v1/members/{ANA}", headers={"Authorization": "Bearer some-key"})
    assert [r.status_code for r in (telegram, sms, chat, api)] == [503, 503, 503, 503]
    assert chat.json["error"] == "database_unavailable"
    assert api.json == {"error": "database_unavailable", "message": "the database is unavailable; try again shortly"}


def test_rows_stored_by_a_lost_race_are_gone(tw: Twilio) -> None:
    """The rollback is whole: no inbound row keeps a redelivery from doing the work."""
    def deadlocked(session, message, *args):  # type: ignore[no-untyped-def]
        receive(session, message, *args)
        raise _deadlock()

    with pytest.raises(OperationalError):
        tw.rt.receive(_message(tw, "hi", "SM-lost"), via=deadlocked)
    with tw.rt.transaction() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 0
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
