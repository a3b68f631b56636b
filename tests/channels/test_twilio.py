"""The Twilio channel without Flask: the real SDK against the fake Twilio server (sending,
error mapping, WhatsApp's window and templates, GSM-7), the parsing of what Twilio posts,
and the carrier keywords."""
from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fakes.twilio_api import FakeTwilio
from support import T0

from bot import carrier
from bot.i18n import translator
from bot.messages import Button, Image, Reply
from channels import twilio_inbound
from channels.sender import PermanentFailure, RetryAfter, Skipped
from channels.twilio import (
    CARRIER_STOP_REASON,
    NO_TEMPLATE,
    OPTED_OUT,
    Contact,
    TwilioAdapter,
    TwilioError,
    TwilioHttp,
    gsm7,
    is_gsm7,
    make_client,
    segments,
)

CUSTOMER = "+15550001111"
TEMPLATE = "HX" + "ab" * 16


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


def adapter(fake: FakeTwilio, channel: str, contact: Contact | None, clock: Clock | None = None) -> TwilioAdapter:
    return TwilioAdapter(
        make_client(fake.account_sid, fake.auth_token, fake.base_url), channel,
        "whatsapp:+15550100001" if channel == "whatsapp" else "+15550100000",
        contact=lambda address: contact, status_callback="https://shop.example/webhooks/twilio/status",
        media_url=lambda text: f"https://shop.example/media/qr/{text}.png", clock=clock or Clock(),
    )


MENU = Reply("You have 50 points.", (Button("Balance", "balance"), Button("Rewards", "rewards")), hint="Reply with a number.")


# --- sending -----------------------------------------------------------------------------------


def test_sms_sends_the_numbered_menu_through_the_real_sdk(fake: FakeTwilio) -> None:
    sid = adapter(fake, "sms", Contact(T0)).send(CUSTOMER, MENU)
    [sent] = fake.sent()
    assert sid == sent.sid and sid.startswith("SM") and len(sid) == 34
    assert (sent.from_, sent.to) == ("+15550100000", CUSTOMER)
    assert sent.body == "You have 50 points.\n1) Balance\n2) Rewards\nReply with a number."
    assert sent.status_callback == "https://shop.example/webhooks/twilio/status"
    assert sent.media_urls == []


def test_sms_shows_the_code_as_text_and_never_sends_media(fake: FakeTwilio) -> None:
    reply = Reply("Show this code at the counter: K7QM-3XPA-9RT2W.", image=Image("qr", "K7QM3XPA9RT2W", "c.png"))
    adapter(fake, "sms", Contact(T0)).send(CUSTOMER, reply)
    [sent] = fake.sent()
    assert "K7QM-3XPA-9RT2W" in (sent.body or "") and sent.media_urls == []


def test_whatsapp_inside_the_window_sends_text_and_the_qr_as_media(fake: FakeTwilio) -> None:
    clock = Clock()
    clock.now = T0 + timedelta(hours=23, minutes=59)
    reply = Reply("Your code", image=Image("qr", "CODE123", "c.png"))
    adapter(fake, "whatsapp", Contact(T0), clock).send(CUSTOMER, reply)
    [sent] = fake.sent()
    assert (sent.from_, sent.to) == ("whatsapp:+15550100001", f"whatsapp:{CUSTOMER}")
    assert sent.body == "Your code" and sent.media_urls == ["https://shop.example/media/qr/CODE123.png"]
    assert sent.content_sid is None


def test_a_campaign_picture_is_whatsapp_media_and_an_sms_link(fake: FakeTwilio) -> None:
    reply = Reply("Double points this weekend!", image=Image("url", "https://shop.example/w.jpg", "w.jpg"), kind="notice")
    adapter(fake, "whatsapp", Contact(T0)).send(CUSTOMER, reply)
    adapter(fake, "sms", Contact(T0)).send(CUSTOMER, reply)
    whatsapp, sms = fake.sent()
    assert whatsapp.body == "Double points this weekend!" and whatsapp.media_urls == ["https://shop.example/w.jpg"]
    assert sms.body == "Double points this weekend!\nhttps://shop.example/w.jpg" and sms.media_urls == []


def test_whatsapp_outside_the_window_sends_the_template_with_the_text(fake: FakeTwilio) -> None:
    clock = Clock()
    clock.now = T0 + timedelta(hours=24, seconds=1)
    adapter(fake, "whatsapp", Contact(T0, template_sid=TEMPLATE), clock).send(CUSTOMER, MENU.__class__(MENU.text, MENU.buttons, kind="notice", hint=MENU.hint))
    [sent] = fake.sent()
    assert sent.content_sid == TEMPLATE and sent.body is None
    # WhatsApp refuses line breaks in a template variable: the menu is one line
    assert sent.content_variables == {"1": "You have 50 points. 1) Balance 2) Rewards Reply with a number."}


def test_whatsapp_outside_the_window_without_a_template_is_skipped(fake: FakeTwilio) -> None:
    clock = Clock()
    clock.now = T0 + timedelta(days=2)
    with pytest.raises(Skipped) as skipped:
        adapter(fake, "whatsapp", Contact(T0), clock).send(CUSTOMER, Reply("+10 points", kind="notice"))
    assert skipped.value.reason == NO_TEMPLATE == "outside WhatsApp's 24-hour window and no template"
    with pytest.raises(Skipped):  # a customer we never heard from on WhatsApp: no window at all
        adapter(fake, "whatsapp", None).send(CUSTOMER, Reply("hello", kind="notice"))
    assert fake.sent() == []


def test_a_stopped_address_gets_answers_but_no_notices(fake: FakeTwilio) -> None:
    stopped = Contact(T0, stopped=True)
    with pytest.raises(Skipped) as skipped:
        adapter(fake, "sms", stopped).send(CUSTOMER, Reply("+10 points", kind="notice"))
    assert skipped.value.reason == OPTED_OUT
    adapter(fake, "whatsapp", stopped).send(CUSTOMER, Reply("You have 50 points."))
    assert [m.body for m in fake.sent()] == ["You have 50 points."]


def test_a_text_over_1600_characters_goes_in_parts_cut_at_line_ends(fake: FakeTwilio) -> None:
    lines = [f"line {i:04d} " + "x" * 40 for i in range(60)]
    sid = adapter(fake, "sms", Contact(T0)).send(CUSTOMER, Reply("\n".join(lines)))
    parts = fake.sent()
    assert len(parts) == 2 and sid == parts[0].sid
    assert all(len(p.body or "") <= 1600 for p in parts)
    assert "\n".join(p.body or "" for p in parts) == "\n".join(lines)


@pytest.mark.parametrize(("status", "code", "outcome", "reason"), [
    (400, 21211, PermanentFailure, "twilio 21211: invalid 'To' number"),
    (400, 21614, PermanentFailure, "twilio 21614: 'To' number is not a mobile number"),
    (400, 21610, PermanentFailure, CARRIER_STOP_REASON),
    (400, 63003, PermanentFailure, "twilio 63003: not a WhatsApp number"),
    (400, 63016, Skipped, "outside WhatsApp's 24-hour window (twilio 63016)"),
])
def test_twilio_refusals_map_to_what_the_sender_understands(
    fake: FakeTwilio, status: int, code: int, outcome: type[Exception], reason: str,
) -> None:
    fake.fail(status, code, to=f"whatsapp:{CUSTOMER}")
    with pytest.raises(outcome) as error:
        adapter(fake, "whatsapp", Contact(T0)).send(CUSTOMER, Reply("hi"))
    assert error.value.reason == reason  # type: ignore[attr-defined]
    assert CUSTOMER not in reason


def test_429_is_retry_after_the_seconds_twilio_asked_for(fake: FakeTwilio) -> None:
    fake.rate_limit(retry_after=7)
    with pytest.raises(RetryAfter) as error:
        adapter(fake, "sms", Contact(T0)).send(CUSTOMER, Reply("hi"))
    assert error.value.seconds == 7
    fake.rate_limit(retry_after=None)
    with pytest.raises(RetryAfter) as error:
        adapter(fake, "sms", Contact(T0)).send(CUSTOMER, Reply("hi"))
    assert error.value.seconds == 1


@pytest.mark.parametrize("status", [500, 503, 401])
def test_server_errors_and_others_are_transient_and_name_no_number(fake: FakeTwilio, status: int) -> None:
    fake.fail(status)
    with pytest.raises(TwilioError) as error:
        adapter(fake, "sms", Contact(T0)).send(CUSTOMER, Reply("hi"))
    assert error.value.status == status and CUSTOMER not in repr(error.value)


def test_wrong_credentials_are_refused_by_the_fake_like_twilio(fake: FakeTwilio) -> None:
    client = make_client(fake.account_sid, "not-the-token", fake.base_url)
    with pytest.raises(Exception) as error:
        client.messages.create(from_="+15550100000", to=CUSTOMER, body="hi")
    assert getattr(error.value, "code", None) == 20003 and fake.sent() == []


def test_the_api_base_url_rewrites_only_twilio_hosts() -> None:
    http = TwilioHttp("http://gateway.local:8080/twilio/")
    assert http.rewrite("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json") == (
        "http://gateway.local:8080/twilio/2010-04-01/Accounts/AC1/Messages.json")
    assert http.rewrite("https://content.twilio.com/v1/Content?PageSize=50") == (
        "http://gateway.local:8080/twilio/v1/Content?PageSize=50")
    assert http.rewrite("https://example.com/x") == "https://example.com/x"
    assert TwilioHttp().rewrite("https://api.twilio.com/x") == "https://api.twilio.com/x"


# --- GSM-7 -------------------------------------------------------------------------------------


def test_gsm7_folds_look_alikes_and_keeps_what_has_none() -> None:
    assert gsm7("¿Cuántos puntos? “Sí” — 1,00\u00a0US$… ñ é ü") == '¿Cuantos puntos? "Si" - 1,00 US$... ñ é ü'
    assert is_gsm7(gsm7("Te has dado de baja: no recibirás más mensajes"))
    assert gsm7("thanks 🎉") == "thanks 🎉"  # no look-alike: kept, meaning first
    assert segments("a" * 160) == 1 and segments("a" * 161) == 2 and segments("€" * 80) == 1
    assert segments("é" * 70) == 1 and segments("🎉" * 36) == 2


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_help_reply_names_the_brand_rates_and_stop_in_one_segment(lang: str) -> None:
    reply = carrier.help_reply(translator(lang), "Bean There Coffee", 2)
    text = gsm7(reply.text)
    assert "Bean There Coffee" in text and "STOP" in text and "2" in text
    assert ("rates may apply" in text) if lang == "en" else ("tarifas" in text)
    assert segments(text) == 1
    long_name = carrier.help_reply(translator(lang), "The Very Long Name Of A Neighbourhood Coffee Roastery", 2)
    assert "Try" not in long_name.text or len(long_name.text) <= 160  # suggestions only where they fit


# --- parsing what Twilio posts ----------------------------------------------------------------

SID = "SM" + "a" * 32


def test_parse_reads_the_sender_as_a_verified_e164_phone() -> None:
    inbound = twilio_inbound.parse("whatsapp", {
        "MessageSid": SID, "From": "whatsapp:+15550001111", "To": "whatsapp:+15550100001", "Body": "Hola\x00",
        "NumMedia": "0", "ProfileName": "Ana",
    })
    assert (inbound.phone, inbound.text, inbound.sid, inbound.opt_out_type) == ("+15550001111", "Hola", SID, None)
    sms = twilio_inbound.parse("sms", {"MessageSid": SID, "From": "+447700900123", "To": "+15550100000",
                                       "Body": "STOP", "OptOutType": "stop"})
    assert (sms.phone, sms.opt_out_type) == ("+447700900123", "STOP")


@pytest.mark.parametrize(("channel", "form", "why"), [
    ("sms", {"From": "+15550001111", "To": "+1555", "Body": "hi"}, "MessageSid"),
    ("sms", {"MessageSid": "SM 1", "From": "+15550001111", "To": "+1555"}, "MessageSid"),
    ("sms", {"MessageSid": SID, "To": "+1555", "Body": "hi"}, "From"),
    ("sms", {"MessageSid": SID, "From": "+15550001111", "Body": "hi"}, "To"),
    ("sms", {"MessageSid": SID, "From": "hello", "To": "+1555"}, "From"),
    ("sms", {"MessageSid": SID, "From": "whatsapp:+15550001111", "To": "+1555"}, "From"),
    ("whatsapp", {"MessageSid": SID, "From": "+15550001111", "To": "whatsapp:+1555"}, "From"),
    ("sms", {"MessageSid": SID, "From": "+15550001111", "To": "+1555", "NumMedia": "many"}, "NumMedia"),
    ("sms", {"MessageSid": SID, "From": "+15550001111", "To": "+1555", "NumMedia": "²"}, "NumMedia"),
    ("sms", {"MessageSid": SID, "From": "+15550001111", "To": "+1555", "NumMedia": "١"}, "NumMedia"),
    ("sms", {"MessageSid": SID, "From": "+15550001111", "To": "+1555", "Body": "x" * 5001}, "Body"),
])
def test_parse_refuses_what_twilio_does_not_post(channel: str, form: dict[str, str], why: str) -> None:
    with pytest.raises(twilio_inbound.BadForm, match=why):
        twilio_inbound.parse(channel, form)


def test_parse_status_reads_sid_status_channel_and_error() -> None:
    status = twilio_inbound.parse_status({"MessageSid": SID, "MessageStatus": "Undelivered", "ErrorCode": "30006",
                                          "To": "whatsapp:+15550001111", "From": "whatsapp:+15550100001"})
    assert (status.sid, status.status, status.channel, status.error_code) == (SID, "undelivered", "whatsapp", 30006)
    assert twilio_inbound.parse_status({"MessageSid": SID, "MessageStatus": "sent"}).channel is None
    for bad in ({"MessageSid": SID}, {"MessageSid": SID, "MessageStatus": "sent!"},
                {"MessageSid": SID, "MessageStatus": "failed", "ErrorCode": "x1"},
                {"MessageSid": SID, "MessageStatus": "failed", "ErrorCode": "3²"}):
        with pytest.raises(twilio_inbound.BadForm):
            twilio_inbound.parse_status(bad)


# --- carrier keywords ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "name", "language"), [
    ("STOP", "stop", "en"), ("stop.", "stop", "en"), (" Stopall ", "stop", "en"), ("UNSUBSCRIBE", "stop", "en"),
    ("cancel", "stop", "en"), ("END", "stop", "en"), ("quit", "stop", "en"), ("BAJA", "stop", "es"),
    ("Alto", "stop", "es"), ("parar", "stop", "es"),
    ("START", "start", "en"), ("yes", "start", "en"), ("UNSTOP", "start", "en"), ("ALTA", "start", "es"),
    ("comenzar", "start", "es"), ("HELP", "help", "en"), ("info", "help", None), ("AYUDA", "help", "es"),
])
def test_whole_message_keywords_in_every_language(text: str, name: str, language: str | None) -> None:
    found = carrier.keyword(text)
    assert found is not None and (found.name, found.language) == (name, language)


@pytest.mark.parametrize("text", ["stop promotions", "please stop", "help me with points", "yes please", "", "cancelar"])
def test_only_a_whole_message_is_a_keyword(text: str) -> None:
    assert carrier.keyword(text) is None


# --- the program file's [whatsapp] table -----------------------------------------------------


def test_the_template_sid_is_read_from_the_program_file_and_checked() -> None:
    from rewards.errors import ConfigError
    from rewards.program.config import DEMO_PROGRAM_PATH, from_settings, parse_program, to_settings

    base = tomllib.loads(DEMO_PROGRAM_PATH.read_text(encoding="utf-8"))
    assert parse_program(base).whatsapp.notice_template_sid is None
    config = parse_program({**base, "whatsapp": {"notice_template_sid": TEMPLATE}})
    assert config.whatsapp.notice_template_sid == TEMPLATE
    assert from_settings(to_settings(config)) == config
    for table, why in (({"notice_template_sid": "HX12"}, 'must be a Twilio Content SID, "HX" and 32 hex digits'),
                       ({"template": TEMPLATE}, "template")):
        with pytest.raises(ConfigError, match=r"\[whatsapp\]") as error:
            parse_program({**base, "whatsapp": table}, source="program.toml")
        assert why in str(error.value)
