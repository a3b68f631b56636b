"""LOYALTY_SQL_THROUGH_ORM=1: the statements every message runs go through the Session (into
SQLAlchemy's echo log and events) instead of the driver's cursor, and the customer sees the
same conversation either way."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import event
from support import migrated_sqlite_url
from test_api import Shop
from test_chat_page import Browser

from rewards import members
from web.app import create_app
from web.settings import Settings

CODE = re.compile(r"\b[0-9A-Z]{8}\b")  # membership codes are random: the same on neither road


def conversation(tmp_path: Path, switch: str) -> tuple[list[str], list[str], str]:
    """What a newcomer reads on joining and asking the balance, the SQL the engine saw, and
    the statement that looks up who wrote (run on every message) as that engine writes it."""
    settings = Settings.from_env({"DATABASE_URL": migrated_sqlite_url(tmp_path / f"orm-{switch}.db"),
                                  "LOYALTY_QR_DIR": str(tmp_path / "qr"), "LOYALTY_SQL_THROUGH_ORM": switch})
    shop = Shop(create_app(settings))
    seen: list[str] = []
    contact = str(members._CONTACT.statement.compile(dialect=shop.rt.engine.dialect))
    event.listen(shop.rt.engine, "before_cursor_execute", lambda _c, _cur, sql, *_: seen.append(sql))
    try:
        browser = Browser(shop, "+15550001111")
        said = [CODE.sub("<code>", m["text"]) for text in ("hi", "yes", "balance") for m in browser.say(text)]
    finally:
        shop.rt.engine.dispose()
    return said, seen, contact


@pytest.mark.parametrize("switch", ["on", "1"])
def test_the_same_conversation_on_both_roads_and_only_one_in_the_echo_log(tmp_path: Path, switch: str) -> None:
    on, on_sql, contact = conversation(tmp_path, switch)
    off, off_sql, _ = conversation(tmp_path, "off")
    assert on == off
    assert any("50 points" in text for text in on)  # the join bonus, read back by the balance
    assert contact in on_sql, "the switch is on but the statement did not go through the Session"
    assert contact not in off_sql, "the statement reached the engine's events without the switch"
    assert Settings.from_env({}).sql_through_orm is False
