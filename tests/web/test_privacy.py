""""Delete my data" leaves nothing of the person in any table, and the clock erases what
every message record holds after the retention period. Driven through the /chat page and
the REST API, on SQLite and PostgreSQL."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import JSON, Date, String, Text, func, inspect, select, text, update
from sqlalchemy.orm import Session
from test_api import Shop, any_shop, shop  # noqa: F401  (fixtures)
from test_chat_page import Browser, deliver

from bot.handler import handle
from bot.messages import SHARE_PHONE, IncomingMessage
from rewards import members, outbox
from rewards.models import Identity, InboundMessage, Member, OutboxMessage, Referral
from scheduler import jobs

LUCIA = "+15550001234"
CHAT_ID = "987654321"  # her Telegram chat
NAME = "Lucía Quintanilla"
BIRTHDAY = date(1990, 5, 14)
PHONE_FORMS = (LUCIA, LUCIA.lstrip("+"))


def personal_data_left(engine: Any, *also: str) -> list[str]:
    """Every text, string, JSON and date column of every table, searched for Lucía (and
    ``also``: other people's addresses that must be gone too)."""
    # "14/05/1990": her own words on the web chat, kept with the bot's reply to them
    needles = PHONE_FORMS + (CHAT_ID, NAME, "Quintanilla", "14/05/1990") + also
    found = []
    inspector = inspect(engine)
    tables = {table: inspector.get_columns(table) for table in inspector.get_table_names() if table != "alembic_version"}
    assert len(tables) >= 17, sorted(tables)
    with Session(engine) as session:
        for table, columns in tables.items():
            for column in columns:
                kind = column["type"]
                name = f'"{column["name"]}"'
                if isinstance(kind, (String, Text, JSON)) or kind.__class__.__name__ in ("JSON", "JSONB"):
                    for value in session.execute(text(f"SELECT CAST({name} AS TEXT) FROM {table}")).scalars():
                        if value and any(needle in value for needle in needles + (BIRTHDAY.isoformat(),)):
                            found.append(f"{table}.{column['name']}: {value[:120]}")
                elif isinstance(kind, Date):
                    hits = session.execute(text(f"SELECT COUNT(*) FROM {table} WHERE {name} = :day"),
                                           {"day": BIRTHDAY}).scalar()
                    if hits:
                        found.append(f"{table}.{column['name']}: {BIRTHDAY}")
    return found


def run_clock_privacy(shop: Shop, now: datetime) -> jobs.JobResult:
    return jobs.run_privacy(shop.rt.sessions, shop.program_id, now, ["web", "telegram"])


@pytest.fixture
def lucia(any_shop: Shop) -> Iterator[tuple[Shop, Browser]]:  # noqa: F811
    """Lucía joined on the web chat with a friend's invite, gave her name, birthday and
    Telegram chat, bought (which paid the referral), exported her data, and has a notice
    still queued on Telegram."""
    shop = any_shop
    with shop.rt.transaction() as session:
        friend = members.find(session, shop.program_id, "+15550000002")
        invite = friend.code
    browser = Browser(shop, LUCIA)
    browser.say(f"JOIN {invite}")
    assert "You're in" in " ".join(m["text"] for m in browser.press("Yes"))
    browser.say("birthday 14/05/1990")
    now = shop.rt.clock()
    with shop.rt.transaction() as session:
        member = members.find(session, shop.program_id, LUCIA)
        member.name = NAME
        telegram = members.get_identity(session, shop.program_id, "telegram", CHAT_ID, now)
        members.link_phone(session, telegram, LUCIA)
    purchase = shop.post("/purchases", {"customer": LUCIA, "amount": "12.50", "receipt_id": "R-LUCIA"})
    assert purchase.status_code == 201, purchase.json
    export = browser.say("export my data")
    assert LUCIA in export[-1]["text"] and "1990-05-14" in export[-1]["text"]
    with shop.rt.transaction() as session:  # a notice for her, not sent yet, and one that failed
        member_id = members.find(session, shop.program_id, LUCIA).id
        outbox.enqueue(session, shop.program_id, "telegram", CHAT_ID, {"text": f"Hi {NAME}"}, "notice", now,
                       member_id=member_id)
        failed = outbox.enqueue(session, shop.program_id, "telegram", CHAT_ID, {"text": "earlier"}, "notice", now,
                                member_id=member_id)
        session.execute(update(OutboxMessage).where(OutboxMessage.id == failed)
                        .values(status="failed", error=f"chat {CHAT_ID} not found"))
    yield shop, browser


def test_deleting_leaves_no_phone_chat_id_name_or_birthday_in_any_table(lucia) -> None:  # type: ignore[no-untyped-def]
    shop, browser = lucia
    assert personal_data_left(shop.rt.engine), "the search must find her before the deletion"

    browser.say("delete my data")
    confirmation = browser.press("Yes")
    assert "Your data is deleted" in confirmation[-1]["text"]  # the one message still sent to her
    with shop.rt.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.channel == "telegram", OutboxMessage.status == "queued")) == 0, "her queued notice is skipped"
    assert deliver(shop) == 0
    run_clock_privacy(shop, shop.rt.clock())

    assert personal_data_left(shop.rt.engine) == []
    with shop.rt.transaction() as session:
        assert outbox.requeue(session, shop.program_id, shop.rt.clock(), status="failed") == 0, "nothing left to send"
        gone = session.scalar(select(Member).where(Member.deleted_at.is_not(None)))
        assert gone is not None and gone.code  # the member row stays, naming nobody
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) > 0, "message rows stay, for counts"


def test_typing_the_number_on_the_chat_afterwards_shows_none_of_the_old_conversation(lucia) -> None:  # type: ignore[no-untyped-def]
    shop, browser = lucia
    browser.say("delete my data")
    browser.press("Yes")
    run_clock_privacy(shop, shop.rt.clock())

    stranger = Browser(shop, LUCIA)
    assert stranger.poll() == []
    welcome = stranger.say("hi")
    texts = " ".join(m["text"] for m in welcome)
    assert "Welcome to" in texts
    assert "Join now and get" not in texts, "no welcome bonus is promised to a number that was a member"
    joined = " ".join(m["text"] for m in stranger.press("Yes"))
    assert "Welcome back" in joined
    with shop.rt.transaction() as session:
        again = members.find(session, shop.program_id, LUCIA)
        assert again.balance == 0


def test_an_export_is_erased_from_the_outbox_once_sent(any_shop: Shop) -> None:  # noqa: F811
    shop = any_shop
    browser = Browser(shop, "+15550007777")
    browser.say("hi")
    browser.press("Yes")
    browser.say("export")
    assert "+15550007777" in browser.last[-1]["text"]
    run_clock_privacy(shop, shop.rt.clock())
    with shop.rt.transaction() as session:
        payloads = [str(p) for p in session.scalars(select(OutboxMessage.payload))]
    assert not any("all the data we hold" in p for p in payloads)
    assert any("You're in" in p for p in payloads), "other replies wait for the retention period"


def test_the_clock_erases_message_records_after_the_retention_period(any_shop: Shop) -> None:  # noqa: F811
    shop = any_shop
    browser = Browser(shop, "+15550007777")
    browser.say("hi")
    browser.press("Yes")
    now = shop.rt.clock()

    assert run_clock_privacy(shop, now + timedelta(days=29)).changed == 0
    with shop.rt.transaction() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 2
        assert session.scalar(select(Identity.id).where(Identity.address == "+15550007777")) is not None

    result = run_clock_privacy(shop, now + timedelta(days=31))
    assert result.changed > 0
    with shop.rt.transaction() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 0
        rows = session.execute(select(OutboxMessage.address, OutboxMessage.payload, OutboxMessage.status)).all()
        assert rows and all(address == "erased" and payload == {} and status == "sent" for address, payload, status in rows)
    assert Browser(shop, "+15550007777").poll() == []
    # idempotent: a second run finds nothing
    assert run_clock_privacy(shop, now + timedelta(days=31)).changed == 0
    # The member and their identity are not messages: they stay.
    with shop.rt.transaction() as session:
        assert members.find(session, shop.program_id, "+15550007777").deleted_at is None


def test_web_chat_delivery_records_hold_no_phone_number(any_shop: Shop) -> None:  # noqa: F811
    shop = any_shop
    Browser(shop, "+15550007777").say("hi")
    with shop.rt.transaction() as session:
        ids = list(session.scalars(select(InboundMessage.provider_message_id)))
    assert ids and not any("5550007777" in i for i in ids)


def test_retention_is_a_program_file_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from rewards.errors import ConfigError
    from rewards.program.config import DEMO_PROGRAM_PATH, load_program_file

    assert load_program_file(DEMO_PROGRAM_PATH).privacy.message_retention_days == 30
    path = tmp_path / "p.toml"
    path.write_text(DEMO_PROGRAM_PATH.read_text() + "\n[privacy]\nmessage_retention_days = 0\n")
    with pytest.raises(ConfigError, match=r"p.toml: \[privacy\] message_retention_days: must be at least 1"):
        load_program_file(path)
    path.write_text(DEMO_PROGRAM_PATH.read_text() + "\n[privacy]\nmessage_retention_days = 7\n")
    assert load_program_file(path).privacy.message_retention_days == 7


def telegram(shop: Shop, chat_id: str, text: str, now: datetime, **fields: Any) -> str:
    with shop.rt.transaction() as session:
        replies = handle(session, IncomingMessage(shop.program_id, "telegram", chat_id, text, **fields), now)
    return " ".join(reply.text for reply in replies)


def test_a_chat_that_shared_her_number_but_never_joined_is_forgotten_with_her(any_shop: Shop) -> None:  # noqa: F811
    """Lucía shared her number on Telegram, left the sign-up unanswered, and joined on the
    web chat instead: the Telegram chat's sign-up still holds her number until she deletes."""
    shop = any_shop
    other_chat = "444555666"
    shared = telegram(shop, other_chat, "", shop.rt.clock(), phone=LUCIA, payload=SHARE_PHONE)
    assert "join now" in shared
    browser = Browser(shop, LUCIA)
    browser.say("hi")
    assert "You're in" in " ".join(m["text"] for m in browser.press("Yes"))
    assert any(LUCIA in hit for hit in personal_data_left(shop.rt.engine) if hit.startswith("identities.flow_data"))

    browser.say("delete my data")
    browser.press("Yes")
    run_clock_privacy(shop, shop.rt.clock())
    assert personal_data_left(shop.rt.engine, other_chat) == []


def test_the_clock_forgets_strangers_and_old_conversation_state(any_shop: Shop) -> None:  # noqa: F811
    """A chat that shared her number and never joined keeps it only for the retention
    period; so does any member's question left unanswered."""
    shop = any_shop
    now = shop.rt.clock()
    telegram(shop, "444555666", "", now, phone=LUCIA, payload=SHARE_PHONE)  # the sign-up is never answered
    member = Browser(shop, "+15550007777")
    member.say("hi")
    member.press("Yes")
    member.say("delete my data")  # and never answers

    assert run_clock_privacy(shop, now + timedelta(days=29)).changed == 0
    assert personal_data_left(shop.rt.engine) != []
    run_clock_privacy(shop, now + timedelta(days=31))
    assert personal_data_left(shop.rt.engine, "444555666") == []
    with shop.rt.transaction() as session:
        kept = session.scalar(select(Identity).where(Identity.address == "+15550007777"))
        assert kept is not None and (kept.flow, kept.flow_data, kept.flow_expires_at) == (None, None, None)
    assert "Welcome to" in telegram(shop, "444555666", "hi", now + timedelta(days=32))  # a stranger again


def test_invites_nobody_took_lose_the_address_after_the_retention_period(any_shop: Shop) -> None:  # noqa: F811
    shop = any_shop
    now = shop.rt.clock()
    with shop.rt.transaction() as session:
        invite = members.find(session, shop.program_id, "+15550000002").code
    assert "invited by a friend" in telegram(shop, CHAT_ID, f"/start {invite}", now)  # and never joins

    assert run_clock_privacy(shop, now + timedelta(days=29)).changed == 0
    assert personal_data_left(shop.rt.engine) != []
    run_clock_privacy(shop, now + timedelta(days=31))
    assert personal_data_left(shop.rt.engine) == []
    with shop.rt.transaction() as session:
        row = session.scalar(select(Referral))
        assert row is not None and row.status == "invited", "the row stays, for the referrer's counts"


def test_a_deleted_members_open_invites_keep_no_ones_address(any_shop: Shop) -> None:  # noqa: F811
    """Lucía invited a friend who never joined, then deleted her data: the friend's chat id
    is not kept for an invite that can never pay."""
    shop = any_shop
    friend_chat = "111222333"
    browser = Browser(shop, LUCIA)
    browser.say("hi")
    browser.press("Yes")
    with shop.rt.transaction() as session:
        invite = members.find(session, shop.program_id, LUCIA).code
    telegram(shop, friend_chat, f"/start {invite}", shop.rt.clock())
    assert personal_data_left(shop.rt.engine, friend_chat)

    browser.say("delete my data")
    browser.press("Yes")
    with shop.rt.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Referral).where(Referral.address == friend_chat)) == 0
    # The friend is not told about a deleted member's invite when they join on their own.
    assert "You're in" in telegram(shop, friend_chat, "yes", shop.rt.clock())
