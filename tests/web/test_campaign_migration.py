"""Migration 0010 gives members who joined before it their time zone, from their phone."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from rewards.storage.db import make_engine
from web import database


def test_existing_members_get_their_zone_from_their_phone(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    before = database.alembic_config(engine)
    command.upgrade(before, "0010")
    command.downgrade(before, "-1")  # the schema just before campaigns
    now = "2026-03-02 15:00:00"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO programs (id, slug, name, currency, timezone, settings, loaded_at)"
                          f" VALUES (1, 'p', 'P', 'USD', 'America/New_York', '{{}}', '{now}')"))
        for member_id, phone in ((1, "+13105550123"), (2, "+15550001111"), (3, None)):
            conn.execute(text(
                "INSERT INTO members (id, program_id, code, phone, language, marketing_consent, joined_at,"
                " last_activity_at, balance) VALUES (:id, 1, :code, :phone, 'en', true, :now, :now, 0)"
            ), {"id": member_id, "code": f"CODE{member_id}", "phone": phone, "now": now})
    database.upgrade(engine)
    with engine.connect() as conn:
        zones = dict(conn.execute(text("SELECT id, timezone FROM members ORDER BY id")).all())
    assert zones == {1: "America/Los_Angeles", 2: "America/New_York", 3: None}
    engine.dispose()
