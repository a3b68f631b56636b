"""Telegram end to end: updates built with PTB's classes posted to /webhooks/telegram, the
replies sent by the real outbox sender through the real ``telegram.Bot`` to the fake Bot API
server, and the ``loyalty telegram`` commands against the same fake."""
from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from click.testing import CliRunner
from fakes.telegram_api import FakeTelegram, button_update, contact_update, text_update
from flask import Flask
from flask.cli import ScriptInfo
from PIL import Image as PILImage
from sqlalchemy import func, select
from support import NO_POSTGRES, POSTGRES_URL, drop_postgres_schema, migrated_sqlite_url

from channels.sender import Sender
from channels.telegram import TelegramAdapter
from rewards import apikeys, ledger, members, referrals
from rewards.models import Identity, InboundMessage, Member, OutboxMessage, Referral
from web.app import create_app
from web.cli import cli
from web.providers import telegram as telegram_provider
from web.providers.telegram import SECRET_HEADER
from web.runtime import Runtime
from web.settings import Settings

SECRET = "s3cret-Token_for-tests"
BEN = "+15550000002"  # a demo member with points, who joined by SMS/terminal
CHAT = 424242


class Bot:
    """One app with Telegram on, the demo program, an API key, and a sender whose adapter
    talks to the fake Bot API server."""

    def __init__(self, app: Flask, fake: FakeTelegram) -> None:
        self.app, self.fake = app, fake
        self.stop = threading.Event()
        self.rt: Runtime = app.extensions["loyalty"]
        self.client = app.test_client()
        assert self.cli("demo").exit_code == 0
        with self.rt.transaction() as session:
            program, _ = self.rt.program(session)
            self.program_id = program.id
            _, key = apikeys.create(session, program.id, "till", self.rt.clock())
        self.auth = {"Authorization": f"Bearer {key}"}
        self.adapter = TelegramAdapter(fake.token, fake.base_url, timeout=5)
        # On the app's clock, which a test may set (a sender on the real clock would find
        # rows queued at a set time in the past too old to send).
        self.sender = Sender(self.rt.sessions, {"telegram": self.adapter}, clock=lambda: self.rt.clock())
        # As serve and wsgi do; a failed start asks again no sooner than a test wants.
        self.learning = telegram_provider.learn_at_start(self.rt, retry_seconds=3600, stop=self.stop)

    def cli(self, *args: str) -> Any:
        return CliRunner().invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: self.app), catch_exceptions=False)

    def post(self, update: Any, secret: str | None = SECRET, **kwargs: Any) -> Any:
        headers = {} if secret is None else {SECRET_HEADER: secret}
        body = update if isinstance(update, str | bytes) else json.dumps(update)
        return self.client.post("/webhooks/telegram", data=body, headers=headers, content_type="application/json", **kwargs)

    def deliver(self) -> None:
        while self.sender.run_once():
            pass

    def texts(self, chat: int = CHAT) -> list[str]:
        return [call.text or "" for call in self.fake.sent(chat)]

    def counts(self) -> tuple[int, ...]:
        with self.rt.sessions() as session:
            return tuple(session.scalar(select(func.count()).select_from(model)) or 0
                         for model in (InboundMessage, OutboxMessage, Identity, Member))

    def identity(self, chat: int = CHAT) -> Identity:
        with self.rt.sessions() as session:
            found = session.scalar(select(Identity).where(Identity.channel == "telegram", Identity.address == str(chat)))
            assert found is not None, f"no identity for chat {chat}"
            return found

    def member_id(self, phone: str) -> int:
        with self.rt.sessions() as session:
            member = members.by_phone(session, self.program_id, phone)
            assert member is not None
            return member.id

    def close(self) -> None:
        self.stop.set()
        self.adapter.close()
        with self.rt.sessions() as session:
            report = ledger.audit(session)
        assert report.ok, "\n".join(report.lines())
        self.rt.engine.dispose()


def _settings(url: str, tmp_path: Path, fake: FakeTelegram, **extra: str) -> Settings:
    env = {"DATABASE_URL": url, "LOYALTY_QR_DIR": str(tmp_path / "qr"), "TELEGRAM_BOT_TOKEN": fake.token,
           "TELEGRAM_WEBHOOK_SECRET": SECRET, "TELEGRAM_API_BASE_URL": fake.base_url,
           "PUBLIC_BASE_URL": "https://loyalty.example"}
    return Settings.from_env({**env, **extra})


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture(params=["sqlite"])
def tg(request: pytest.FixtureRequest, tmp_path: Path, fake: FakeTelegram) -> Iterator[Bot]:
    """The bot on SQLite; parametrize with ["sqlite", "postgres"] (indirect) for both."""
    schema = None
    if request.param == "postgres":
        if not POSTGRES_URL:
            pytest.skip(NO_POSTGRES)
        from support import migrated_postgres_url

        url, schema = migrated_postgres_url()
        app = create_app(_settings(url, tmp_path, fake))
    else:
        app = create_app(_settings(migrated_sqlite_url(tmp_path / 'tg.db'), tmp_path, fake))
    bot = Bot(app, fake)
    try:
        yield bot
        bot.close()
    finally:
        app.extensions["loyalty"].engine.dispose()
        if schema:
            drop_postgres_schema(schema)


both_databases = pytest.mark.parametrize("tg", ["sqlite", "postgres"], indirect=True)


def join(tg: Bot, chat: int = CHAT, first_update: int = 100) -> None:
    assert tg.post(text_update(first_update, chat, "hi")).status_code == 200
    assert tg.post(button_update(first_update + 1, chat, "yes")).status_code == 200
    tg.deliver()


# --- the conversation through Telegram ---------------------------------------------------


def test_a_newcomer_gets_inline_buttons_and_joins_with_a_button_press(tg: Bot) -> None:
    answer = tg.post(text_update(1, CHAT, "hi"))
    assert answer.status_code == 200
    tg.deliver()
    welcome, share = tg.fake.sent(CHAT)
    assert "Welcome to Bean There Coffee rewards!" in welcome.params["text"]
    assert welcome.params["reply_markup"] == {"inline_keyboard": [
        [{"text": "Yes", "callback_data": "yes"}, {"text": "No", "callback_data": "no"}]]}
    assert "Already a member on WhatsApp or SMS? Share your phone number" in welcome.params["text"]
    # One reply, two Telegram messages: a message carries one keyboard, and the contact
    # button cannot sit in an inline one.
    assert share.params["text"] == "Share my phone number"
    assert share.params["reply_markup"]["keyboard"] == [[{"text": "Share my phone number", "request_contact": True}]]
    with tg.rt.sessions() as session:
        assert session.scalar(select(func.count(OutboxMessage.id))) == 1
    pressed = tg.post(button_update(2, CHAT, "yes"))
    # The button press is acknowledged in the webhook's own answer: no extra request.
    assert pressed.status_code == 200 and pressed.json == {"method": "answerCallbackQuery", "callback_query_id": "cq-2"}
    tg.deliver()
    texts = tg.texts()
    assert any("You're in! Your member code is" in t for t in texts)
    assert "You have 50 points. Tier: Bronze." in texts[-1]
    assert tg.fake.sent(CHAT)[-1].params["reply_markup"]["inline_keyboard"][0][0] == {
        "text": "Balance", "callback_data": "balance"}
    assert tg.identity().member_id is not None


def test_spanish_speakers_are_answered_in_spanish(tg: Bot) -> None:
    tg.post(text_update(1, CHAT, "/start", language="es"))
    tg.deliver()
    assert "¡Bienvenido" in tg.texts()[0] and tg.fake.sent(CHAT)[1].params["reply_markup"]["keyboard"][0][0]["text"] == (
        "Compartir mi número de teléfono")


@both_databases
def test_a_redelivered_update_has_one_effect(tg: Bot) -> None:
    tg.post(text_update(1, CHAT, "hi"))
    for _ in range(3):  # Telegram retries when it did not see our 200 in time
        assert tg.post(button_update(2, CHAT, "yes")).status_code == 200
    tg.deliver()
    assert sum("You're in!" in t for t in tg.texts()) == 1
    with tg.rt.sessions() as session:
        assert session.scalar(select(func.count(Member.id)).where(Member.phone.is_(None))) == 1


@both_databases
def test_concurrent_deliveries_of_one_update_have_one_effect(tg: Bot) -> None:
    tg.post(text_update(1, CHAT, "hi"))
    before = tg.counts()
    barrier = threading.Barrier(8, timeout=30)
    statuses: list[int] = []

    def deliver() -> None:
        client = tg.app.test_client()
        barrier.wait()
        statuses.append(client.post("/webhooks/telegram", data=json.dumps(button_update(2, CHAT, "yes")),
                                    headers={SECRET_HEADER: SECRET}, content_type="application/json").status_code)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [200] * 8
    inbound, outbox, identities, people = tg.counts()
    assert (inbound, identities, people) == (before[0] + 1, before[2], before[3] + 1)
    tg.deliver()
    assert sum("You're in!" in t for t in tg.texts()) == 1


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET[:-1], SECRET + "x", "ü" + SECRET])
def test_a_wrong_or_missing_secret_is_403_and_stores_nothing(tg: Bot, secret: str | None,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    before = tg.counts()
    answer = tg.post(text_update(1, CHAT, "hi"), secret=secret)
    assert answer.status_code == 403
    assert tg.counts() == before and tg.fake.sent() == []
    assert "secret token" in caplog.text and SECRET not in caplog.text


@pytest.mark.parametrize(("body", "status"), [
    ("{not json", 400), ("", 400), (b"\xff\xfe", 400), ("[]", 400), ('"hi"', 400), ("{}", 400),
    ('{"update_id": "1"}', 400), ('{"update_id": 1, "message": {"text": "no chat"}}', 400),
    ('{"update_id": 1, "message": 5}', 400),
    ("[" * 2000 + "]" * 2000, 400), ('{"update_id": 1, "message": ' + "[" * 1000 + "]" * 1000 + "}", 400),
    ('{"update_id": Infinity}', 400),
    ('{"update_id": 1, "edited_message": {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"}}}', 200),
    ('{"update_id": 1, "my_chat_member": {"whatever": true}}', 200),
    ('{"update_id": 1}', 200),
])
def test_bad_bodies_are_4xx_or_ignored_and_never_change_data(tg: Bot, body: str, status: int) -> None:
    before = tg.counts()
    assert tg.post(body).status_code == status
    assert tg.counts() == before


def test_a_group_chat_a_huge_body_and_odd_text_never_make_a_500(tg: Bot) -> None:
    before = tg.counts()
    assert tg.post(text_update(1, -1001, "hi", chat_type="supergroup")).status_code == 200
    huge = json.dumps(text_update(2, CHAT, "x" * 300_000))
    assert tg.post(huge).status_code == 413
    assert tg.counts() == before
    odd = tg.post(text_update(3, CHAT, "\u202e\u0000😀 ZALGO̸̢ \ud7ff" + "ñ" * 5000))
    assert odd.status_code == 200
    tg.deliver()
    assert tg.fake.sent(CHAT)  # answered with the welcome, as any first words are


@both_databases
def test_text_a_database_cannot_store_is_cleaned_and_answered(tg: Bot) -> None:
    """NUL and a lone surrogate (JSON escapes) in a customer's message: PostgreSQL stores
    neither, so they are dropped or replaced as the update is read, and the customer is answered."""
    update = json.dumps(text_update(4, CHAT, "hi \u0000 there \ud800"))
    assert "\\u0000" in update and "\\ud800" in update
    assert tg.post(update).status_code == 200
    tg.deliver()
    assert tg.fake.sent(CHAT)
    with tg.rt.sessions() as session:
        assert session.scalar(select(func.count(InboundMessage.id))) == 1


def test_the_webhook_is_404_while_telegram_is_off(tmp_path: Path, fake: FakeTelegram) -> None:
    for env in ({"TELEGRAM_BOT_TOKEN": ""}, {"TELEGRAM_WEBHOOK_SECRET": ""}):
        app = create_app(_settings(migrated_sqlite_url(tmp_path / 'off.db'), tmp_path, fake, **env))
        answer = app.test_client().post("/webhooks/telegram", data=json.dumps(text_update(1, CHAT, "hi")),
                                        headers={SECRET_HEADER: SECRET}, content_type="application/json")
        assert answer.status_code == 404
        app.extensions["loyalty"].engine.dispose()


# --- referrals and one wallet across channels ---------------------------------------------


def test_a_deep_link_signs_the_friend_up_with_the_referral(tg: Bot) -> None:
    with tg.rt.sessions() as session:
        ben = members.by_phone(session, tg.program_id, BEN)
        assert ben is not None
        code = ben.code
    tg.post(text_update(1, CHAT, f"/start {code}"))
    tg.post(button_update(2, CHAT, "yes"))
    tg.post(button_update(3, CHAT, "invite"))
    tg.deliver()
    texts = tg.texts()
    assert any("You were invited by a friend" in t for t in texts)
    with tg.rt.sessions() as session:
        friend = session.get(Member, tg.identity().member_id)
        referral = session.scalars(select(Referral)).one()
        ben = members.by_phone(session, tg.program_id, BEN)
        assert friend is not None and ben is not None
        assert (referral.referrer_id, referral.referee_id) == (ben.id, friend.id)
        assert referrals.stats(session, ben).joined == 1
        # The friend's own invite link names the bot, learnt from getMe.
        assert f"https://t.me/loyalty_test_bot?start={friend.code}" in texts[-1]


def test_sharing_the_phone_links_telegram_to_the_sms_members_wallet(tg: Bot) -> None:
    ben_id = tg.member_id(BEN)
    tg.post(text_update(1, CHAT, "hi"))
    tg.post(contact_update(2, CHAT, BEN.lstrip("+")))
    tg.deliver()
    texts = tg.texts()
    with tg.rt.sessions() as session:
        ben = session.get(Member, ben_id)
        assert ben is not None
        assert f"Linked: this chat now uses your rewards account (member {ben.code})." in texts
        assert f"You have {ben.balance:,} points." in texts[-1]
    assert tg.identity().member_id == ben_id
    tg.post(text_update(3, CHAT, "balance"))
    tg.deliver()
    assert "Tier: Gold" in tg.texts()[-1]


def test_a_telegram_member_adds_a_phone_later_from_help(tg: Bot) -> None:
    tg.post(text_update(1, CHAT, "hi"))
    tg.post(text_update(2, CHAT, "1"))  # the number of "Yes": the share button is no menu entry
    tg.post(text_update(3, CHAT, "help"))
    tg.deliver()
    assert any("You're in!" in t for t in tg.texts())
    assert tg.fake.sent(CHAT)[-1].params["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    tg.post(contact_update(4, CHAT, BEN.lstrip("+")))  # someone else's wallet: not merged
    tg.post(contact_update(5, CHAT, "15557770001"))
    tg.deliver()
    texts = tg.texts()
    assert any(t.startswith("That number belongs to another account") for t in texts)
    assert any(t.startswith("Saved your number") for t in texts)
    assert tg.identity().member_id == tg.member_id("+15557770001") != tg.member_id(BEN)


def test_someone_elses_contact_links_nothing(tg: Bot) -> None:
    tg.post(contact_update(1, CHAT, BEN.lstrip("+"), user_id=999))
    tg.deliver()
    assert tg.texts()[0] == "Please share your own phone number, with the button."
    assert tg.identity().member_id is None


def test_a_newcomers_shared_phone_becomes_the_new_members(tg: Bot) -> None:
    tg.post(contact_update(1, CHAT, "15557770000"))
    tg.post(button_update(2, CHAT, "yes"))
    tg.deliver()
    assert tg.texts()[0].startswith("No member has that number yet")
    assert tg.identity().member_id == tg.member_id("+15557770000")


def test_the_qr_that_reaches_telegram_redeems_once(tg: Bot) -> None:
    tg.post(contact_update(1, CHAT, BEN.lstrip("+")))
    tg.post(button_update(2, CHAT, "redeem free-coffee"))
    tg.post(button_update(3, CHAT, "yes"))
    tg.deliver()
    [photo] = [call for call in tg.fake.sent(CHAT) if call.method == "sendPhoto"]
    assert photo.params["caption"].startswith("Show this code at the counter:")
    [found] = zxingcpp.read_barcodes(PILImage.open(io.BytesIO(photo.files["photo"])))
    first = tg.client.post(f"/api/v1/codes/{found.text}/redeem", headers=tg.auth)
    assert first.status_code == 200 and first.json["reward"] == "Free coffee"
    assert tg.client.post(f"/api/v1/codes/{found.text}/redeem", headers=tg.auth).status_code == 409


# --- the provider pushing back ------------------------------------------------------------------


def test_a_429_pauses_the_channel_and_requeues_the_row(tg: Bot) -> None:
    tg.post(text_update(1, CHAT, "hi"))
    tg.fake.rate_limit(30)
    now = tg.rt.clock()
    assert tg.sender.run_once() == 1
    assert tg.sender.run_once() == 0  # the channel waits out its retry-after
    with tg.rt.sessions() as session:
        rows = session.scalars(select(OutboxMessage)).all()
        assert {row.status for row in rows} == {"queued"} and all(row.attempts == 0 for row in rows)
        assert all((row.available_at.replace(tzinfo=None) - now.replace(tzinfo=None)).total_seconds() > 25 for row in rows)
    assert tg.fake.sent() == [] and [c.status for c in tg.fake.calls if c.method == "sendMessage"] == [429]


def test_a_blocked_bot_marks_the_chat_unreachable_and_later_notices_are_skipped(tg: Bot) -> None:
    tg.post(text_update(1, CHAT, "hi"))
    tg.deliver()
    tg.fake.block(CHAT)
    tg.post(button_update(2, CHAT, "yes"))  # joined: several replies queued
    # One row a batch, so the rest are still queued when the first is refused (rows already
    # claimed with it would be tried, and refused, too).
    tg.sender = Sender(tg.rt.sessions, {"telegram": tg.adapter}, batch_size=1, clock=tg.rt.clock)
    tg.deliver()
    assert [c.status for c in tg.fake.calls if c.method == "sendMessage"][-1:] == [403]
    assert sum(c.status == 403 for c in tg.fake.calls) == 1
    identity = tg.identity()
    assert identity.unreachable_at is not None and "blocked" in (identity.unreachable_reason or "")
    with tg.rt.sessions() as session:
        statuses = [row.status for row in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))][1:]
        assert statuses[0] == "failed" and set(statuses[1:]) == {"skipped"} and len(statuses) >= 2
        code = session.get(Member, identity.member_id).code  # type: ignore[union-attr]
        queued_before = session.scalar(select(func.count(OutboxMessage.id)))
    bought = tg.client.post("/api/v1/purchases", json={"customer": code, "amount": "10.00", "receipt_id": "R-9"},
                            headers=tg.auth)
    assert bought.status_code == 201
    with tg.rt.sessions() as session:  # nowhere reachable to tell them: nothing queued
        assert session.scalar(select(func.count(OutboxMessage.id))) == queued_before
    assert len(tg.fake.sent(CHAT)) == 2  # only what went before the block


def test_a_message_telegram_refuses_fails_alone_and_the_chat_stays_reachable(tg: Bot) -> None:
    tg.fake.fail(400, "Bad Request: message is too long", method="sendMessage")
    tg.post(text_update(1, CHAT, "hi"))
    tg.deliver()
    with tg.rt.sessions() as session:
        statuses = [row.status for row in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
    assert statuses == ["failed"] and tg.identity().unreachable_at is None
    tg.post(text_update(2, CHAT, "no"))
    tg.deliver()
    assert tg.texts()[-1].startswith("No problem.")


# --- the loyalty telegram commands ----------------------------------------------------------------


def test_set_webhook_registers_the_public_url_with_the_secret(tg: Bot) -> None:
    result = tg.cli("telegram", "set-webhook")
    assert result.exit_code == 0, result.output
    assert "https://loyalty.example/webhooks/telegram" in result.output and "@loyalty_test_bot" in result.output
    assert tg.fake.webhook == {"url": "https://loyalty.example/webhooks/telegram", "secret_token": SECRET,
                               "allowed_updates": ["message", "callback_query"]}
    info = tg.cli("telegram", "info")
    assert info.exit_code == 0 and "webhook: https://loyalty.example/webhooks/telegram" in info.output


WRONG_TOKEN = "123:" + "w" * 35  # shaped as a token, but not one Telegram knows


@pytest.mark.parametrize(("env", "says"), [
    ({"PUBLIC_BASE_URL": ""}, "set PUBLIC_BASE_URL first"),
    ({"TELEGRAM_WEBHOOK_SECRET": "", "PUBLIC_BASE_URL": ""}, "set TELEGRAM_WEBHOOK_SECRET, PUBLIC_BASE_URL first"),
    ({"PUBLIC_BASE_URL": "http://loyalty.example"}, "must start with https://"),
    ({"TELEGRAM_WEBHOOK_SECRET": "has spaces!"}, "letters, digits, _ or -"),
    ({"TELEGRAM_BOT_TOKEN": WRONG_TOKEN}, "refused the bot token"),
    ({"TELEGRAM_BOT_TOKEN": "123:wrong"}, "TELEGRAM_BOT_TOKEN is not a bot token"),
])
def test_set_webhook_says_what_is_missing(tmp_path: Path, fake: FakeTelegram, env: dict[str, str], says: str) -> None:
    app = create_app(_settings(migrated_sqlite_url(tmp_path / 'c.db'), tmp_path, fake, **env))
    result = CliRunner().invoke(cli, ["telegram", "set-webhook"], obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code == 1 and says in result.output and "Traceback" not in result.output
    assert "123:wrong" not in result.output and WRONG_TOKEN not in result.output and fake.webhook == {}
    app.extensions["loyalty"].engine.dispose()


def test_poll_takes_updates_without_a_webhook_and_replies(tg: Bot) -> None:
    tg.cli("telegram", "set-webhook")
    tg.fake.push_update(text_update(7001, CHAT, "hi"))
    tg.fake.push_update(button_update(7002, CHAT, "yes"))
    result = tg.cli("telegram", "poll", "--max-updates", "2", "--timeout", "1")
    assert result.exit_code == 0, result.output
    assert "removing the webhook" in result.output and "polling Telegram as @loyalty_test_bot" in result.output
    assert "update 7002 from chat 424242: 'yes' -> " in result.output and "handled 2 updates" in result.output
    assert tg.fake.webhook == {}
    assert any("You're in!" in t for t in tg.texts())  # the replies went out before it stopped
    assert [c.params["callback_query_id"] for c in tg.fake.calls_to("answerCallbackQuery")] == ["cq-7002"]
    assert tg.identity().member_id is not None


# --- the bot's @name -----------------------------------------------------------------------


def get_mes(fake: FakeTelegram) -> int:
    return sum(call.method == "getMe" for call in fake.calls)


def invite_text(tg: Bot, chat: int) -> str:
    join(tg, chat, first_update=chat)
    assert tg.post(button_update(chat + 10, chat, "invite")).status_code == 200
    tg.deliver()
    return tg.texts(chat)[-1]


def test_the_bots_name_is_learnt_at_start_and_no_webhook_request_asks_for_it(tg: Bot) -> None:
    assert tg.learning is None and tg.rt.telegram_username == "loyalty_test_bot"
    asked = get_mes(tg.fake)
    for update in (text_update(1, CHAT, "hi"), button_update(2, CHAT, "yes"), button_update(3, CHAT, "invite")):
        assert tg.post(update).status_code == 200
    assert get_mes(tg.fake) == asked  # the webhook never waited on Telegram
    tg.deliver()
    assert "https://t.me/loyalty_test_bot?start=" in tg.texts()[-1]


@pytest.fixture
def unnamed(tmp_path: Path, fake: FakeTelegram) -> Iterator[Any]:
    """A Bot whose start could not learn its name (getMe failed once), retrying no sooner
    than the test asks; ``TELEGRAM_BOT_USERNAME`` as given."""
    made: list[Bot] = []

    def start(**extra: str) -> Bot:
        fake.fail(502, "Bad Gateway", method="getMe", times=1)
        app = create_app(_settings(migrated_sqlite_url(tmp_path / "tg.db"), tmp_path, fake, **extra))
        made.append(Bot(app, fake))
        return made[-1]

    yield start
    for bot in made:
        bot.close()


@pytest.mark.parametrize("configured", [None, "shop_bot"])
def test_when_telegram_cannot_tell_the_name_at_start_invites_use_the_setting_or_say_so(
    unnamed: Any, configured: str | None,
) -> None:
    tg = unnamed(**({"TELEGRAM_BOT_USERNAME": "@" + configured} if configured else {}))
    assert tg.learning is not None and tg.rt.telegram_username is None
    asked = get_mes(tg.fake)
    text = invite_text(tg, 501)
    if configured:
        assert "https://t.me/shop_bot?start=" in text
    else:
        assert "Telegram: the link is unavailable right now." in text and "t.me" not in text
    assert get_mes(tg.fake) == asked + 1  # the sender's own adapter; no webhook asked


def test_a_name_not_learnt_at_start_is_learnt_in_the_background(fake: FakeTelegram, tmp_path: Path) -> None:
    fake.fail(502, "Bad Gateway", method="getMe", times=2)  # at start, and the first retry
    app = create_app(_settings(migrated_sqlite_url(tmp_path / "tg.db"), tmp_path, fake))
    rt: Runtime = app.extensions["loyalty"]
    try:
        thread = telegram_provider.learn_at_start(rt, retry_seconds=0.01)
        assert thread is not None and rt.telegram_username is None
        thread.join(5)  # it ends once it has the name
        assert not thread.is_alive() and rt.telegram_username == "loyalty_test_bot"
        assert get_mes(fake) == 3
    finally:
        rt.engine.dispose()
