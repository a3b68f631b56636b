"""WhatsApp and SMS delivery: the QR as signed WhatsApp media, the code as SMS text, WhatsApp's
24-hour window and templates, delivery status callbacks, and Twilio's refusals (permanent
failures, 21610, 429, 5xx) seen from the outbox."""
from __future__ import annotations

import base64
import io
import logging
from datetime import timedelta
from pathlib import Path

import pytest
import zxingcpp
from fakes.twilio_api import FakeTwilio
from PIL import Image as PILImage
from sqlalchemy import select
from support import T0
from twilio_harness import (  # noqa: F401 - the fixtures
    ANA,
    PUBLIC,
    SMS_FROM,
    TEMPLATE,
    WA_FROM,
    Twilio,
    _sqlite,
    any_tw_fixture,
    fake_fixture,
    tw_fixture,
)

from channels.twilio import CARRIER_STOP_REASON, NO_TEMPLATE, segments
from rewards import apikeys
from rewards.models import Code
from web import media, providers

# --- the QR as WhatsApp media, the code as SMS text ------------------------------------------------------


def _redeem(tw: Twilio, channel: str) -> str:
    tw.join(channel, ANA)
    tw.give_points(ANA, 1000)
    tw.say(channel, ANA, "rewards")
    tw.say(channel, ANA, "1")
    tw.say(channel, ANA, "yes")
    with tw.rt.transaction() as session:
        return session.scalars(select(Code.code)).one()


def test_a_whatsapp_redemption_sends_the_qr_as_signed_media(tw: Twilio) -> None:
    code = _redeem(tw, "whatsapp")
    last = tw.fake.sent(ANA)[-1]
    assert "Show this code at the counter" in (last.body or "")
    [url] = last.media_urls
    assert url.startswith(f"{PUBLIC}/media/qr/") and url.endswith(".png")
    path = url.removeprefix(PUBLIC)
    # an access log line of this URL does not give the code away, even base64-decoded
    token = path.removeprefix("/media/qr/").removesuffix(".png")
    assert all(code.encode() not in base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in token.split("."))
    image = tw.client.get(path)
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert "no-store" in image.headers["Cache-Control"]
    [decoded] = zxingcpp.read_barcodes(PILImage.open(io.BytesIO(image.data)))
    assert decoded.text == code
    # the decoded code is the real thing: the till redeems it once
    with tw.rt.transaction() as session:
        _, key = apikeys.create(session, tw.program_id, "till", tw.clock())
    redeem = f"/api/v1/codes/{decoded.text}/redeem"
    assert tw.client.post(redeem, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert tw.client.post(redeem, headers={"Authorization": f"Bearer {key}"}).status_code == 409
    # forged: 403; expired (the clock moves, no sleeping): 404
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert tw.client.get(f"/media/qr/{forged}.png").status_code == 403
    assert tw.client.get("/media/qr/hello.png").status_code == 403
    tw.clock.advance(minutes=5)  # Twilio fetches it within seconds; minutes later it still works
    assert tw.client.get(path).status_code == 200
    tw.clock.advance(minutes=6)  # past its ten minutes: a link in a log is no bearer link for long
    assert tw.client.get(path).status_code == 404


def test_a_media_link_dated_in_the_future_is_refused(tw: Twilio) -> None:
    ahead = lambda: tw.clock() + timedelta(hours=1)  # noqa: E731 - a clock an hour fast
    url = media.qr_url_maker(tw.rt.settings, ahead)("K7QM3XPA9RT2W")
    assert tw.client.get(url.removeprefix(PUBLIC)).status_code == 403
    slightly = lambda: tw.clock() + timedelta(seconds=30)  # noqa: E731 - another machine's clock, a little fast
    assert tw.client.get(media.qr_url_maker(tw.rt.settings, slightly)("K7QM3XPA9RT2W").removeprefix(PUBLIC)).status_code == 200


def test_an_sms_redemption_shows_the_typable_code_as_text(tw: Twilio) -> None:
    code = _redeem(tw, "sms")
    last = tw.fake.sent(ANA)[-1]
    assert last.media_urls == []
    typable = f"{code[:4]}-{code[4:8]}-{code[8:]}"
    assert typable in (last.body or "") and segments(last.body or "") == 1


def test_sending_leaves_the_console_to_our_own_lines(tw: Twilio, caplog: pytest.LogCaptureFixture) -> None:
    """The SDK narrates each request in a dozen INFO lines; `loyalty serve` would print them all."""
    caplog.set_level(logging.INFO)
    tw.say("whatsapp", ANA, "hi")
    assert tw.fake.sent(ANA)  # the reply went out through the SDK
    assert [r.getMessage() for r in caplog.records if r.name.startswith("twilio")] == []


# --- WhatsApp's 24-hour window ---------------------------------------------------------------------------


def test_outside_the_window_a_notice_without_template_is_skipped_with_the_reason(tw: Twilio) -> None:
    tw.join("whatsapp", ANA)
    sent = len(tw.fake.sent(ANA))
    tw.clock.advance(hours=23)
    tw.notice(ANA)  # inside the window: plain text
    assert len(tw.fake.sent(ANA)) == sent + 1 and tw.fake.sent(ANA)[-1].content_sid is None
    tw.clock.advance(hours=2)  # 25 hours after she last wrote
    tw.notice(ANA)
    row = tw.rows("whatsapp")[-1]
    assert (row.status, row.error) == ("skipped", NO_TEMPLATE)
    assert len(tw.fake.sent(ANA)) == sent + 1


def test_outside_the_window_the_program_template_carries_the_text(tmp_path: Path, fake: FakeTwilio) -> None:
    tw = _sqlite(tmp_path, fake, template=TEMPLATE)
    try:
        tw.join("whatsapp", ANA)
        tw.clock.advance(days=3)
        tw.notice(ANA)
        last = tw.fake.sent(ANA)[-1]
        assert last.content_sid == TEMPLATE and last.body is None
        assert last.content_variables is not None and "10" in last.content_variables["1"]
        assert "\n" not in last.content_variables["1"]
        assert tw.rows("whatsapp")[-1].status == "sent"
        tw.say("whatsapp", ANA, "balance")  # she wrote: the window is open again
        assert tw.fake.sent(ANA)[-1].content_sid is None
    finally:
        tw.audit()
        tw.rt.engine.dispose()


def test_twilio_refusing_outside_the_window_is_a_skip(tw: Twilio) -> None:
    tw.join("whatsapp", ANA)
    tw.fake.fail(400, 63016, to=f"whatsapp:{ANA}")
    tw.notice(ANA)
    row = tw.rows("whatsapp")[-1]
    assert row.status == "skipped" and "63016" in (row.error or "")


# --- delivery status and failures ------------------------------------------------------------------------


def test_status_callbacks_are_recorded_on_the_row_and_never_go_back(tw: Twilio) -> None:
    tw.say("sms", ANA, "hi")
    row = tw.rows()[-1]
    sid = row.provider_message_id
    assert sid is not None
    base = {"MessageSid": sid, "AccountSid": tw.fake.account_sid, "From": SMS_FROM, "To": ANA, "SmsSid": sid}
    for status in ("sent", "delivered", "sent", "delivered"):  # late and repeated callbacks
        assert tw.status({**base, "MessageStatus": status}).status_code == 200
    row = tw.rows()[-1]
    assert (row.delivery_status, row.delivery_status_at) == ("delivered", T0)
    assert tw.status({**base, "MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered"}).status_code == 200
    assert tw.status({"MessageSid": sid}).status_code == 400


def test_an_undelivered_status_with_a_dead_number_marks_it_unreachable(tw: Twilio) -> None:
    tw.join("whatsapp", ANA)
    row = tw.rows()[-1]
    tw.queue("whatsapp", ANA, "later")
    form = {"MessageSid": row.provider_message_id or "", "MessageStatus": "undelivered", "ErrorCode": "63024",
            "To": f"whatsapp:{ANA}", "From": WA_FROM}
    assert tw.status(form).status_code == 200
    assert tw.status(form).status_code == 200  # redelivered: harmless
    identity = tw.identity("whatsapp", ANA)
    assert identity.unreachable_reason == "twilio 63024: invalid message recipient"
    assert tw.rows()[-1].status == "skipped"
    assert tw.rows()[-2].error == "twilio 63024: undelivered"
    tw.say("whatsapp", ANA, "balance")  # she writes again: reachable again
    assert tw.identity("whatsapp", ANA).unreachable_at is None


def test_a_permanent_refusal_marks_the_address_unreachable(tw: Twilio) -> None:
    tw.join("sms", ANA)
    tw.fake.fail(400, 21211, to=ANA, times=None)
    tw.notice(ANA)
    row = tw.rows()[-1]
    assert (row.status, row.error) == ("failed", "twilio 21211: invalid 'To' number")
    assert tw.identity("sms", ANA).unreachable_reason == "twilio 21211: invalid 'To' number"
    tw.notice(ANA)  # nowhere to tell her now
    assert tw.rows()[-1].id == row.id


def test_a_21610_refusal_is_kept_as_a_stop_when_she_writes_again(tw: Twilio) -> None:
    tw.join("sms", ANA)
    tw.fake.fail(400, 21610, to=ANA, times=None)  # she sent STOP while our webhook was away
    tw.notice(ANA)
    assert tw.identity("sms", ANA).unreachable_reason == CARRIER_STOP_REASON
    tw.say("sms", ANA, "balance")
    identity = tw.identity("sms", ANA)
    assert identity.stopped_at is not None and identity.unreachable_at is None
    assert tw.rows()[-1].error == CARRIER_STOP_REASON  # nothing new queued for her
    tw.fake.clear_failures()
    tw.say("sms", ANA, "START")
    tw.say("sms", ANA, "balance")
    assert tw.bodies(ANA)[-1].startswith("You have 50 points.")


def test_a_429_pauses_the_channel_and_a_5xx_is_retried_later(tw: Twilio) -> None:
    tw.fake.rate_limit(retry_after=30)
    tw.post("/webhooks/sms", tw.form("sms", ANA, "hi"))
    tw.deliver()
    [row] = tw.rows()
    assert (row.status, row.attempts, row.available_at) == ("queued", 0, T0 + timedelta(seconds=30))
    assert tw.fake.sent() == []
    tw.clock.advance(seconds=30)
    tw.monotonic += 30
    tw.fake.fail(500)
    tw.deliver()
    [row] = tw.rows()
    assert (row.status, row.attempts) == ("queued", 1) and ANA not in (row.error or "")
    tw.clock.advance(minutes=1)
    tw.deliver()
    assert tw.rows()[0].status == "sent" and len(tw.fake.sent(ANA)) == 1


def test_the_wiring_builds_both_adapters_with_the_status_callback(tw: Twilio) -> None:
    adapters = providers.build_adapters(tw.rt.settings, tw.rt.sessions)
    assert {"whatsapp", "sms"} <= set(adapters)
    assert adapters["whatsapp"].status_callback == f"{PUBLIC}/webhooks/twilio/status"  # type: ignore[attr-defined]
    assert adapters["sms"].media_url is None  # type: ignore[attr-defined]
