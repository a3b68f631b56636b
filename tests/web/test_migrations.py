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


def _catalog(engine: Engine, schema: str, versioned: bool = True) -> dict[str, list[tuple[object, ...]]]:
    """What a schema holds, as PostgreSQL describes it, its own name written as ``{schema}``."""
    queries = {
        "columns": "SELECT table_name, column_name, ordinal_position, data_type, character_maximum_length, numeric_precision,"
                   " column_default, is_nullable FROM information_schema.columns WHERE table_schema = :s",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = :s",
        "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
                       " WHERE connamespace = CAST(:s AS regnamespace)",
        "triggers": "SELECT tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                    " WHERE NOT t.tgisinternal AND c.relnamespace = CAST(:s AS regnamespace)",
        "functions": "SELECT proname, prosrc FROM pg_proc WHERE pronamespace = CAST(:s AS regnamespace)",
        "sequences": "SELECT sequence_name, data_type, start_value FROM information_schema.sequences WHERE sequence_schema = :s",
    }
    with engine.connect() as conn:
        described = {name: sorted(tuple(str(value).replace(schema, "{schema}") for value in row)
                                  for row in conn.execute(text(query), {"s": schema}))
                     for name, query in queries.items()}
        if versioned:
            described["alembic_version"] = sorted(conn.execute(text("SELECT * FROM alembic_version")).all())
    return described


@pytest.mark.parametrize("empty_engine", ["postgres"], indirect=True)
def test_a_replayed_postgres_schema_is_the_one_the_migrations_build(empty_engine: Engine) -> None:
    """tests/support.py's ``migrated_postgres_url`` replays the SQL the migrations sent the first
    time (once per test process): what it gives holds the same tables, columns, indexes,
    constraints, triggers and version as a schema migrated here."""
    from support import drop_postgres_schema, migrated_postgres_url

    from rewards.storage.db import make_engine

    database.upgrade(empty_engine)
    with empty_engine.connect() as conn:
        migrated_schema = conn.execute(text("SELECT current_schema()")).scalar()
    expected = _catalog(empty_engine, str(migrated_schema))
    assert expected["triggers"] and expected["functions"] and expected["alembic_version"]
    for _ in range(2):  # the first may be the recording run; the second is a replay
        url, schema = migrated_postgres_url()
        engine = make_engine(url)
        try:
            assert _catalog(engine, schema) == expected
        finally:
            engine.dispose()
            drop_postgres_schema(schema)


@pytest.mark.parametrize("empty_engine", ["postgres"], indirect=True)
def test_a_replayed_postgres_schema_is_the_one_the_models_create(empty_engine: Engine) -> None:
    """The ``engine`` fixture's PostgreSQL schema is replayed the same way, from the first
    ``create_all`` of the test process: it is the one ``create_all`` makes."""
    from support import build_postgres_schema, drop_postgres_schema, postgres_engine

    Base.metadata.create_all(empty_engine)
    with empty_engine.connect() as conn:
        expected = _catalog(empty_engine, str(conn.execute(text("SELECT current_schema()")).scalar()), versioned=False)
    assert expected["columns"] and expected["indexes"]
    for _ in range(2):  # the first may be the recording run; the second is a replay
        engine, schema = postgres_engine()
        try:
            build_postgres_schema(engine, schema, "models", Base.metadata.create_all)
            assert _catalog(engine, schema, versioned=False) == expected
        finally:
            engine.dispose()
            drop_postgres_schema(schema)
