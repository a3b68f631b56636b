"""WhatsApp and SMS webhooks end to end: Twilio's signed requests in, the outbox, the real
sender and the real twilio SDK out to the fake Twilio server; signatures (also behind a
proxy), refusals that store nothing, one effect per MessageSid, and the carrier keywords."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fakes.twilio_api import FakeTwilio
from twilio_harness import (  # noqa: F401 - the fixtures
    ANA,
    BRUNO,
    PUBLIC,
    SMS_FROM,
    WA_FROM,
    Twilio,
    _sqlite,
    any_tw_fixture,
    fake_fixture,
    tw_fixture,
)

from channels.twilio import OPTED_OUT, gsm7, is_gsm7, segments

# --- conversations ---------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_a_customer_joins_and_gets_numbered_menus(any_tw: Twilio, channel: str) -> None:
    tw = any_tw
    tw.say(channel, ANA, "hi")
    [welcome] = tw.fake.sent(ANA)
    assert welcome.from_ == (WA_FROM if channel == "whatsapp" else SMS_FROM)
    assert welcome.to == ("whatsapp:" if channel == "whatsapp" else "") + ANA
    assert "Welcome to Bean There Coffee rewards!" in (welcome.body or "")
    assert (welcome.body or "").endswith("\n1) Yes\n2) No\nReply with a number.")
    assert welcome.status_callback == f"{PUBLIC}/webhooks/twilio/status"
    tw.say(channel, ANA, "1")  # the number from the menu
    assert "You're in! Your member code is" in tw.bodies(ANA)[1]
    tw.say(channel, ANA, "balance")
    last = tw.bodies(ANA)[-1]
    assert last.startswith("You have 50 points.") and "\n1) Balance\n2) Rewards\n" in last
    assert all(row.status == "sent" and row.provider_message_id for row in tw.rows())


def test_one_member_across_sms_and_whatsapp(tw: Twilio) -> None:
    tw.join("sms", ANA)
    tw.say("whatsapp", ANA, "balance")  # the same phone: the same wallet, no sign-up
    assert tw.fake.sent(ANA)[-1].to == f"whatsapp:{ANA}"
    assert tw.bodies(ANA)[-1].startswith("You have 50 points.")
    assert tw.identity("whatsapp", ANA).member_id == tw.identity("sms", ANA).member_id is not None


def test_sms_replies_fit_one_gsm7_segment_even_in_spanish(tw: Twilio) -> None:
    tw.say("sms", ANA, "hola")
    tw.say("sms", ANA, "sí")
    tw.say("sms", ANA, "¿cuántos puntos tengo?")
    answer = tw.fake.sent(ANA)[-1].body or ""
    assert "Tienes 50 puntos" in answer and is_gsm7(answer) and segments(answer) == 1


# --- signatures and bad requests ---------------------------------------------------------------------


def test_a_wrong_or_missing_signature_is_403_and_stores_nothing(tw: Twilio) -> None:
    form = tw.form("sms", ANA, "hi")
    for kwargs in ({"signature": ""}, {"signature": "bm90IGEgc2lnbmF0dXJl"},
                   {"signed_url": "http://localhost/webhooks/sms"},  # the URL as the app sees it: not what Twilio signed
                   {"signed_url": PUBLIC + "/webhooks/whatsapp"}):
        assert tw.post("/webhooks/sms", form, **kwargs).status_code == 403
    tampered = tw.validator.compute_signature(PUBLIC + "/webhooks/sms", form)
    assert tw.post("/webhooks/sms", {**form, "Body": "delete my data"}, signature=tampered).status_code == 403
    assert tw.client.post("/webhooks/twilio/status", data={"MessageSid": form["MessageSid"]}).status_code == 403
    assert tw.counts() == (0, 0, 0) and tw.fake.sent() == []


def test_behind_a_proxy_the_signature_of_public_base_url_passes(tw: Twilio) -> None:
    form = tw.form("sms", ANA, "hi")
    response = tw.post("/webhooks/sms", form, base_url="http://10.0.0.7:8000",
                       headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "loyalty.example.com"})
    assert response.status_code == 200
    with_query = tw.form("sms", BRUNO, "hi")
    signed = tw.validator.compute_signature(PUBLIC + "/webhooks/sms?source=console", with_query)
    response = tw.client.post("/webhooks/sms?source=console", data=with_query, headers={"X-Twilio-Signature": signed},
                              base_url="http://internal:8000")
    assert response.status_code == 200
    assert tw.counts()[0] == 2


@pytest.mark.parametrize(("change", "why"), [
    ({"MessageSid": ""}, "MessageSid"), ({"From": ""}, "From"), ({"From": "not a phone"}, "From"),
    ({"From": "whatsapp:+15550001111"}, "From"), ({"To": ""}, "To"), ({"NumMedia": "-1"}, "NumMedia"),
])
def test_a_malformed_form_is_400_and_stores_nothing(tw: Twilio, change: dict[str, str], why: str) -> None:
    response = tw.post("/webhooks/sms", {**tw.form("sms", ANA, "hi"), **change})
    assert response.status_code == 400 and why in response.get_data(as_text=True)
    assert tw.counts() == (0, 0, 0)


def test_a_huge_body_is_413_and_odd_text_is_just_text(tw: Twilio) -> None:
    huge = tw.form("sms", ANA, "x" * 70_000)
    assert tw.post("/webhooks/sms", huge).status_code == 413
    assert tw.counts() == (0, 0, 0)
    tw.say("sms", ANA, "\u202e\u0000👋🏽 ｈｉ")
    assert tw.fake.sent(ANA)  # answered, not refused


def test_a_channel_that_is_off_is_404(tmp_path: Path, fake: FakeTwilio) -> None:
    made = _sqlite(tmp_path, fake, TWILIO_WHATSAPP_FROM="")
    assert made.post("/webhooks/whatsapp", made.form("whatsapp", ANA, "hi")).status_code == 404
    assert made.post("/webhooks/sms", made.form("sms", ANA, "hi")).status_code == 200
    (tmp_path / "off").mkdir()
    off = _sqlite(tmp_path / "off", fake, TWILIO_SMS_FROM="", TWILIO_WHATSAPP_FROM="")
    assert off.post("/webhooks/sms", off.form("sms", ANA, "hi")).status_code == 404
    assert off.status({"MessageSid": "SM" + "0" * 32, "MessageStatus": "sent"}).status_code == 404
    for app in (made, off):
        app.rt.engine.dispose()


# --- one effect per MessageSid ------------------------------------------------------------------------


def test_a_redelivered_message_sid_has_one_effect(tw: Twilio) -> None:
    form = tw.form("whatsapp", ANA, "hi")
    for _ in range(3):
        assert tw.post("/webhooks/whatsapp", form).status_code == 200
    tw.deliver()
    assert tw.counts() == (1, 1, 1) and len(tw.fake.sent(ANA)) == 1


def test_a_message_sid_delivered_concurrently_has_one_effect(any_tw: Twilio) -> None:
    tw = any_tw
    tw.join("sms", ANA)
    before = tw.counts()
    form = tw.form("sms", ANA, "balance")
    barrier, statuses = threading.Barrier(12), []

    def deliver() -> None:
        client = tw.app.test_client()
        signature = tw.validator.compute_signature(PUBLIC + "/webhooks/sms", form)
        barrier.wait()
        statuses.append(client.post("/webhooks/sms", data=form, headers={"X-Twilio-Signature": signature}).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert statuses == [200] * 12
    assert tw.counts() == (before[0] + 1, before[1], before[2] + 1)


# --- keywords -------------------------------------------------------------------------------------------


def test_whatsapp_stop_confirms_once_stops_notices_and_start_resumes(tw: Twilio) -> None:
    tw.join("whatsapp", ANA)
    tw.queue("whatsapp", ANA, "Double points this weekend!", kind="campaign")  # queued before STOP
    sent = len(tw.fake.sent(ANA))
    tw.say("whatsapp", ANA, "STOP")
    assert tw.bodies(ANA)[sent:] == [
        "You're unsubscribed from Bean There Coffee and will get no more messages here. Reply START to resume."]
    assert tw.rows()[-2].status == "skipped" and tw.rows()[-2].error == OPTED_OUT  # the queued promotion
    tw.say("whatsapp", ANA, "stop")  # again: no second confirmation
    tw.notice(ANA)  # the domain finds nowhere to tell her
    tw.queue("whatsapp", ANA, "Flash sale!", kind="campaign")  # and a row queued anyway is skipped at send time
    tw.deliver()
    assert tw.rows()[-1].status == "skipped" and tw.rows()[-1].error == OPTED_OUT
    assert len(tw.fake.sent(ANA)) == sent + 1
    tw.say("whatsapp", ANA, "balance")  # her own question is still answered
    assert tw.bodies(ANA)[-1].startswith("You have 50 points.")
    assert tw.identity("whatsapp", ANA).stopped_at is not None  # writing did not undo STOP
    tw.say("whatsapp", ANA, "START")
    assert tw.bodies(ANA)[-1] == "You're subscribed to Bean There Coffee messages again. Reply HELP for help, STOP to opt out."
    tw.notice(ANA)
    assert "10" in tw.bodies(ANA)[-1] and tw.identity("whatsapp", ANA).stopped_at is None


def test_sms_stop_is_confirmed_by_twilio_and_nothing_is_sent_until_start(tw: Twilio) -> None:
    tw.join("sms", ANA)
    sent = len(tw.fake.sent(ANA))
    tw.say("sms", ANA, "STOP")  # Twilio answers STOP on SMS itself, and blocks the number
    tw.say("sms", ANA, "balance")  # Twilio would refuse any answer (21610): none is queued
    tw.notice(ANA)
    assert len(tw.fake.sent(ANA)) == sent
    assert len(tw.rows("sms")) == sent
    tw.say("sms", ANA, "START")  # Twilio confirms that too
    assert len(tw.fake.sent(ANA)) == sent
    tw.say("sms", ANA, "balance")
    assert tw.bodies(ANA)[-1].startswith("You have 50 points.")


def test_spanish_keywords_on_sms_are_ours_to_confirm_in_spanish(tw: Twilio) -> None:
    tw.say("sms", ANA, "hola")
    tw.say("sms", ANA, "sí")
    tw.say("sms", ANA, "BAJA")  # Twilio does not know BAJA: we confirm, folded to GSM-7
    assert tw.bodies(ANA)[-1] == gsm7(
        "Te has dado de baja de Bean There Coffee y no recibirás más mensajes aquí. Responde START para volver.")
    tw.say("sms", ANA, "saldo")
    assert "Tienes" not in tw.bodies(ANA)[-1]
    tw.say("sms", ANA, "ALTA")
    assert tw.bodies(ANA)[-1].startswith("Vuelves a recibir mensajes de Bean There Coffee.")


@pytest.mark.parametrize(("channel", "word", "expected"), [
    ("sms", "HELP", "Bean There Coffee: msg frequency varies, offers at most 2/week. Msg&data rates may apply."),
    ("whatsapp", "info", "Bean There Coffee: msg frequency varies"),
    ("sms", "AYUDA", "Bean There Coffee: frecuencia variable, max. 2 ofertas/semana. Pueden aplicar tarifas"),
])
def test_help_names_the_brand_frequency_rates_and_stop(tw: Twilio, channel: str, word: str, expected: str) -> None:
    tw.say(channel, ANA, word)
    [answer] = tw.bodies(ANA)
    assert answer.startswith(expected) and "STOP" in answer and segments(answer) == 1


def test_keywords_twilio_already_answered_get_no_second_answer(tw: Twilio) -> None:
    tw.say("whatsapp", ANA, "HELP", OptOutType="HELP")
    tw.say("whatsapp", ANA, "STOP", OptOutType="STOP")
    assert tw.fake.sent(ANA) == [] and tw.identity("whatsapp", ANA).stopped_at is not None


def test_yes_and_start_are_ordinary_words_when_not_stopped(tw: Twilio) -> None:
    tw.say("sms", ANA, "hi")
    tw.say("sms", ANA, "YES")  # answers the join question, not an opt-in
    assert "You're in!" in tw.bodies(ANA)[1]
