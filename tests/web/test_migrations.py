"""Alembic migrations build exactly the schema the models describe, on both engines."""
from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from rewards.models import Base
from web import database


@pytest.fixture
def empty_engine(request, tmp_path):  # type: ignore[no-untyped-def]
    from support import NO_POSTGRES, POSTGRES_URL, drop_postgres_schema, postgres_engine

    from rewards.storage.db import make_engine

    if request.param == "postgres":
        if not POSTGRES_URL:
            pytest.skip(NO_POSTGRES)
        engine, schema = postgres_engine()
        yield engine
        engine.dispose()
        drop_postgres_schema(schema)
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
        yield engine
        engine.dispose()


@pytest.mark.parametrize("empty_engine", ["sqlite", "postgres"], indirect=True)
def test_upgrade_head_matches_the_models(empty_engine: Engine) -> None:
    database.upgrade(empty_engine)
    assert database.is_current(empty_engine)
    with empty_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    assert diff == []


@pytest.mark.parametrize("empty_engine", ["sqlite", "postgres"], indirect=True)
def test_the_migrated_database_keeps_the_ledger_rules(empty_engine: Engine) -> None:
    """compare_metadata does not see CHECK constraints: prove they were migrated."""
    database.upgrade(empty_engine)
    now = "2026-03-02 15:00:00"
    with empty_engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO programs (id, slug, name, currency, timezone, settings, loaded_at)"
            f" VALUES (1, 'p', 'P', 'USD', 'UTC', '{{}}', '{now}')"
        ))
        conn.execute(text(
            "INSERT INTO members (id, program_id, code, language, marketing_consent, joined_at, last_activity_at, balance)"
            f" VALUES (1, 1, 'AAAAAAAA', 'en', true, '{now}', '{now}', 0)"
        ))
    entry = (
        "INSERT INTO ledger_entries (program_id, member_id, amount, kind, reason, idempotency_key, created_at, lot_at)"
        f" VALUES (1, 1, {{amount}}, '{{kind}}', 'r', '{{key}}', '{now}', '{now}')"
    )
    for amount, kind, key in ((-5, "purchase", "a"), (5, "redeem", "b"), (5, "gift", "c")):
        with pytest.raises(IntegrityError), empty_engine.begin() as conn:
            conn.execute(text(entry.format(amount=amount, kind=kind, key=key)))
    with empty_engine.begin() as conn:
        conn.execute(text(entry.format(amount=5, kind="purchase", key="d")))
    with pytest.raises(IntegrityError), empty_engine.begin() as conn:
        conn.execute(text(entry.format(amount=5, kind="purchase", key="d")))
    for change in ("UPDATE ledger_entries SET amount = 500", "DELETE FROM ledger_entries"):
        with pytest.raises(DBAPIError, match="append-only"), empty_engine.begin() as conn:
            conn.execute(text(change))
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT amount FROM ledger_entries")).scalars().all() == [5]


@pytest.mark.parametrize("empty_engine", ["postgres"], indirect=True)
def test_the_migrated_database_notifies_the_senders_of_outbox_rows(empty_engine: Engine) -> None:
    """Migrations 0012-0013's trigger: inserting outbox rows NOTIFYs loyalty_outbox at commit,
    whoever inserts them; nothing for a rollback."""
    import psycopg

    from rewards.models import OUTBOX_NOTIFY_CHANNEL

    database.upgrade(empty_engine)
    _, params = empty_engine.dialect.create_connect_args(empty_engine.url)
    now = "2026-03-02 15:00:00"
    insert = text(
        "INSERT INTO outbox_messages (program_id, channel, address, kind, priority, payload, status, attempts, due_at,"
        f" available_at, created_at) VALUES (1, 'sms', '+15550001111', 'reply', 0, '{{}}', 'queued', 0, '{now}', '{now}', '{now}')"
    )
    with psycopg.connect(**params, autocommit=True) as listener:
        listener.execute(f"LISTEN {OUTBOX_NOTIFY_CHANNEL}")
        with empty_engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO programs (id, slug, name, currency, timezone, settings, loaded_at)"
                f" VALUES (1, 'p', 'P', 'USD', 'UTC', '{{}}', '{now}')"
            ))
        pid = "SELECT pg_backend_pid()"  # the channel is the database's: tests in other schemas notify it too
        with empty_engine.connect() as conn:
            ours = {conn.execute(text(pid)).scalar()}
            conn.execute(insert)
            conn.rollback()
        assert [n for n in listener.notifies(timeout=0.3) if n.pid in ours] == []
        with empty_engine.begin() as conn:
            ours = {conn.execute(text(pid)).scalar()}
            schema = conn.execute(text("SELECT current_schema()")).scalar()
            conn.execute(insert)
            conn.execute(insert)
        heard = [n for n in listener.notifies(timeout=1) if n.pid in ours]
        # One a transaction (the same payload collapses), naming the schema of the rows.
        assert [(n.channel, n.payload) for n in heard] == [(OUTBOX_NOTIFY_CHANNEL, schema)]
    command.downgrade(database.alembic_config(empty_engine), "0011")  # and the downgrade takes the trigger away
    with empty_engine.connect() as conn:
        # This schema's triggers only: another schema in the database may hold the trigger.
        assert conn.execute(text(
            "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE t.tgname = 'outbox_messages_notify' AND c.relnamespace = current_schema()::regnamespace"
        )).scalar() == 0


@pytest.mark.parametrize("empty_engine", ["sqlite", "postgres"], indirect=True)
def test_messages_queued_before_0019_count_their_staleness_from_when_they_were_queued(empty_engine: Engine) -> None:
    """0019 adds ``due_at``: a row already in the queue takes its ``created_at``, as the rule
    was before; the downgrade takes the column away again."""
    database.upgrade(empty_engine, "0017")
    with empty_engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO programs (id, slug, name, currency, timezone, settings, loaded_at)"
            " VALUES (1, 'p', 'P', 'USD', 'UTC', '{}', '2026-03-02 15:00:00')"
        ))
        conn.execute(text(
            "INSERT INTO outbox_messages (program_id, channel, address, kind, priority, payload, status, attempts,"
            " available_at, created_at) VALUES (1, 'sms', '+15550001111', 'campaign', 1, '{}', 'queued', 0,"
            " '2026-03-03 09:00:00', '2026-03-02 21:00:00')"
        ))
    database.upgrade(empty_engine)
    with empty_engine.connect() as conn:
        assert str(conn.execute(text("SELECT due_at FROM outbox_messages")).scalar()).startswith("2026-03-02 21:00:00")
    command.downgrade(database.alembic_config(empty_engine), "0017")
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM outbox_messages")).scalar() == 1
