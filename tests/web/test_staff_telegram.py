"""Staff commands end to end on Telegram: a cashier on the program file's allow-list posts
through /webhooks/telegram, the real sender delivers through the real ``telegram.Bot`` to
the fake Bot API server, and customers get the broadcast and their purchase notice."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fakes.telegram_api import FakeTelegram, button_update, text_update
from sqlalchemy import func, select
from support import NO_POSTGRES, POSTGRES_URL, drop_postgres_schema, migrated_sqlite_url
from test_telegram_webhook import CHAT, Bot, _settings, join

from rewards import catalog, members, redemption
from rewards.codes import display
from rewards.models import Campaign, Member, Purchase
from rewards.program.config import DEMO_PROGRAM_PATH
from rewards.program.programs import config_of
from web.app import create_app

CASHIER = 777000111  # a Telegram user id on the allow-list
BEN = "+15550000002"  # a demo member with points


def last_noon_in_new_york() -> datetime:
    """A fixed clock outside the demo's quiet hours (21:00-09:00 New York) and not after the
    real time, which the harness's sender goes by: the broadcast is sent, not held."""
    zone = ZoneInfo("America/New_York")
    now = datetime.now(zone)
    noon = datetime.combine(now.date(), time(12), zone)
    return (noon if noon <= now else noon - timedelta(days=1)).astimezone(UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def tg(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bot]:
    """The Telegram bot with the demo program plus ``[staff] telegram = [CASHIER]``."""
    schema = None
    with FakeTelegram() as fake:
        if request.param == "postgres":
            if not POSTGRES_URL:
                pytest.skip(NO_POSTGRES)
            from support import migrated_postgres_url

            url, schema = migrated_postgres_url()
            app = create_app(_settings(url, tmp_path, fake))
        else:
            app = create_app(_settings(migrated_sqlite_url(tmp_path / 'tg.db'), tmp_path, fake))
        noon = last_noon_in_new_york()
        app.extensions["loyalty"].clock = lambda: noon
        bot = Bot(app, fake)
        program_file = tmp_path / "program.toml"
        program_file.write_text(DEMO_PROGRAM_PATH.read_text(encoding="utf-8") + f"\n[staff]\ntelegram = [{CASHIER}]\n",
                                encoding="utf-8")
        assert bot.cli("program", "load", str(program_file)).exit_code == 0
        try:
            yield bot
            bot.close()
        finally:
            app.extensions["loyalty"].engine.dispose()
            if schema:
                drop_postgres_schema(schema)


def customer_code(tg: Bot) -> str:
    with tg.rt.sessions() as session:
        member = session.get(Member, tg.identity().member_id)
        assert member is not None
        return member.code


def test_a_cashier_broadcasts_after_a_preview_and_the_customer_gets_it(tg: Bot) -> None:
    join(tg)  # a customer on Telegram, who said yes to offers
    assert tg.post(text_update(200, CASHIER, "/broadcast all: Double points this weekend!")).status_code == 200
    tg.deliver()
    preview = tg.texts(CASHIER)[-1]
    # The five demo members only ever chatted in the terminal, which no provider reaches.
    assert "Members matching: 6. Would receive it: 1. Skipped: no reachable chat 5." in preview
    assert tg.fake.sent(CASHIER)[-1].params["reply_markup"]["inline_keyboard"][0][0] == {
        "text": "Yes", "callback_data": "yes"}
    for update_id in (201, 201):  # the Yes button, and Telegram delivering it again
        assert tg.post(button_update(update_id, CASHIER, "yes")).status_code == 200
    tg.deliver()
    assert "Sent: campaign 1. Messages queued: 1; skipped: 5." in tg.texts(CASHIER)[-1]
    assert tg.texts(CHAT).count("Double points this weekend!") == 1
    with tg.rt.sessions() as session:
        [campaign] = session.scalars(select(Campaign)).all()
        assert campaign.created_by == f"staff:telegram:{CASHIER}"


def test_a_customer_typing_broadcast_gets_help_and_nothing_is_sent(tg: Bot) -> None:
    join(tg)
    tg.post(text_update(200, CHAT, "/broadcast"))
    tg.deliver()
    assert tg.texts(CHAT)[-1].startswith("Sorry, I didn't get that.")
    with tg.rt.sessions() as session:
        assert session.scalar(select(func.count(Campaign.id))) == 0


def test_a_cashier_records_a_purchase_once_and_the_member_is_told_once(tg: Bot) -> None:
    join(tg)
    code = customer_code(tg)
    for update_id in (300, 301):  # typed twice by mistake: one receipt earns once
        tg.post(text_update(update_id, CASHIER, f"/purchase {code} 12.50 R-9001"))
    tg.deliver()
    first, second = tg.texts(CASHIER)
    assert f"Recorded $12.50 for member {code}: +125 points, balance 175." in first
    assert "Receipt R-9001 was already recorded ($12.50, 125 points): nothing earned again." in second
    assert [t for t in tg.texts(CHAT) if "+125 points" in t] == ["+125 points. Balance: 175."]
    with tg.rt.sessions() as session:
        assert session.scalar(select(func.count(Purchase.id)).where(Purchase.receipt_id == "R-9001")) == 1


def test_a_cashier_redeems_a_code_once(tg: Bot) -> None:
    with tg.rt.transaction() as session:
        program, config = tg.rt.program(session)
        ben = members.by_phone(session, program.id, BEN)
        reward = catalog.find_reward(session, program.id, "free-coffee")
        code = redemption.issue(session, config_of(program), ben, reward, tg.rt.clock()).code
        ben_code = ben.code
    tg.post(text_update(400, CASHIER, f"/redeem {display(code)}"))
    tg.post(text_update(401, CASHIER, f"/redeem {display(code)}"))
    tg.deliver()
    used, again = tg.texts(CASHIER)
    assert f"Redeemed: Free coffee for member {ben_code}." in used
    assert "Refused: that code was already used" in again
