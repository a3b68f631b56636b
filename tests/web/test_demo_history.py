"""``loyalty demo --busy``: a busy shop's past, made through the domain in the order it
happened, the same every time, and only once."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from support import migrated_sqlite_url
from test_api import Shop, _settings

from rewards.models import Code, Identity, LedgerEntry, Member, OutboxMessage, Purchase, Referral, Survey
from web import demo_history
from web.app import create_app


def busy_shop(tmp_path: Path, name: str, customers: int = 40) -> tuple[Shop, demo_history.History]:
    shop = Shop(create_app(_settings(migrated_sqlite_url(tmp_path / f"{name}.db"), tmp_path)))
    with shop.rt.transaction() as session:
        program, config = shop.rt.program(session)
        made = demo_history.add_history(session, program, config, shop.rt.clock(), customers=customers, days=90)
    return shop, made


def test_the_past_is_recorded_as_the_product_would_have(tmp_path: Path) -> None:
    shop, made = busy_shop(tmp_path, "one")
    shop.audit()  # every balance is the sum of its ledger
    with shop.rt.transaction() as session:
        added = select(Member).where(Member.phone.like("+1555000%"), Member.phone >= demo_history.phone_of(0))
        assert session.scalar(select(func.count()).select_from(added.subquery())) == made.customers == 40
        joined = session.scalars(select(Member.joined_at).where(Member.phone >= demo_history.phone_of(0))).all()
        assert (max(joined) - min(joined)).days > 30, "customers joined over weeks, not all at once"
        assert session.scalar(select(func.count(Purchase.id)).where(Purchase.actor == "demo")) >= made.purchases > 40
        assert session.scalar(select(func.count(Code.id)).where(Code.status == "redeemed")) == made.redemptions > 0
        assert session.scalar(select(func.count(Referral.id)).where(Referral.status != "invited")) == made.referred > 0
        assert session.scalar(select(func.count(Survey.id)).where(Survey.score.is_not(None))) == made.answers > 0
        channels = set(session.scalars(select(Identity.channel).where(Identity.address.like("%555000%"))))
        assert {"whatsapp", "sms"} <= channels
        assert session.scalar(select(func.count(OutboxMessage.id))) == 0, "the past sends no message"
        assert session.scalar(select(func.max(LedgerEntry.created_at))) <= shop.rt.clock()


def test_the_same_shop_every_time_and_only_once(tmp_path: Path) -> None:
    first, one = busy_shop(tmp_path, "first", customers=15)
    second, two = busy_shop(tmp_path, "second", customers=15)
    assert one == two
    with first.rt.transaction() as session:
        program, config = first.rt.program(session)
        again = demo_history.add_history(session, program, config, first.rt.clock(), customers=15, days=90)
    assert again.customers == 0
    for shop in (first, second):
        shop.audit()
