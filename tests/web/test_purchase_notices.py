"""A purchase or refund recorded at the till (REST API or `loyalty purchase`/`refund`) tells
the member in chat, on the channel they last wrote from, through the outbox."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from support import migrated_sqlite_url
from test_api import BEN, CHLOE, Shop, _settings
from test_chat_page import Browser, deliver

from rewards.models import OutboxMessage
from web.app import create_app


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    made = Shop(create_app(_settings(migrated_sqlite_url(tmp_path / 'notices.db'), tmp_path)))
    yield made
    made.audit()
    made.rt.engine.dispose()


def notices(shop: Shop) -> list[tuple[str, str, str]]:
    with shop.rt.transaction() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "notice").order_by(OutboxMessage.id))
        return [(row.channel, row.address, row.payload["text"]) for row in rows]


def test_an_api_purchase_tells_a_member_who_wrote_on_the_web_chat(shop: Shop) -> None:
    browser = Browser(shop, BEN)
    browser.say("balance")
    woken: list[int] = []
    shop.rt.wake_sender = lambda: woken.append(len(notices(shop)))  # after the commit: the row is there
    response = shop.post("/purchases", {"customer": BEN, "amount": "12.50", "receipt_id": "R-1"})
    assert response.status_code == 201
    balance = response.json["balance"]
    assert notices(shop) == [("web", BEN, f"+187 points. Balance: {balance:,}.")]
    assert woken == [1]
    deliver(shop)
    assert [m["text"] for m in browser.poll()] == [f"+187 points. Balance: {balance:,}."]
    # The same receipt again earns nothing and says nothing.
    assert shop.post("/purchases", {"customer": BEN, "amount": "12.50", "receipt_id": "R-1"}).status_code == 200
    assert len(notices(shop)) == 1 and woken == [1]
    refund = shop.post("/purchases/R-1/refund")
    assert refund.status_code == 200
    assert notices(shop)[-1] == ("web", BEN, f"Refund of receipt R-1: -187 points. Balance: {refund.json['balance']:,}.")
    assert woken == [1, 2]


def test_a_member_with_no_reachable_channel_gets_no_message(shop: Shop) -> None:
    woken: list[int] = []
    shop.rt.wake_sender = lambda: woken.append(1)
    assert shop.post("/purchases", {"customer": CHLOE, "amount": "5.00", "receipt_id": "R-2"}).status_code == 201
    assert notices(shop) == [] and woken == []


def test_a_shell_purchase_queues_the_message_and_says_so(shop: Shop) -> None:
    Browser(shop, BEN).say("hi")
    result = shop.cli("purchase", BEN, "10", "--receipt", "R-3")
    assert result.exit_code == 0, result.output
    assert "message to member" in result.output and "queued 1 chat message(s)" in result.output
    assert notices(shop)[-1][:2] == ("web", BEN)
    quiet = shop.cli("purchase", CHLOE, "10", "--receipt", "R-4")
    assert "no chat message queued" in quiet.output
    refund = shop.cli("refund", "R-3")
    assert "queued 1 chat message(s)" in refund.output
    assert notices(shop)[-1][2].startswith("Refund of receipt R-3")


def test_refunding_the_purchase_that_paid_a_referral_takes_both_bonuses_back_and_tells_both(shop: Shop) -> None:
    """Buy, refund, repeat must not pay the referrer: the refund reverses both bonuses."""
    referrer = Browser(shop, BEN)
    referrer.say("balance")
    with shop.rt.transaction() as session:
        from rewards import members

        code = members.find(session, shop.program_id, BEN).code
    friend = Browser(shop, "+15550004444")
    friend.say(f"JOIN {code}")
    friend.press("Yes")
    before = shop.get(f"/members/{BEN}").json["balance"]
    assert shop.post("/purchases", {"customer": "+15550004444", "amount": "10.00", "receipt_id": "R-F"}).status_code == 201
    assert shop.get(f"/members/{BEN}").json["balance"] == before + 200

    refund = shop.post("/purchases/R-F/refund")
    assert refund.status_code == 200
    assert shop.get(f"/members/{BEN}").json["balance"] == before
    assert refund.json["balance"] == 50  # the join bonus is what is left: purchase and referral bonus taken back
    told = notices(shop)[-2:]
    assert ("web", "+15550004444", "Your first purchase was refunded, so the 100 points from your friend's invite"
            " were taken back. Balance: 50.") in told
    assert ("web", BEN, f"Your friend's first purchase was refunded, so the 200 points for inviting them were"
            f" taken back. Balance: {before:,}.") in told
    # A second purchase does not qualify the closed referral again.
    assert shop.post("/purchases", {"customer": "+15550004444", "amount": "10.00", "receipt_id": "R-G"}).status_code == 201
    assert shop.get(f"/members/{BEN}").json["balance"] == before
