"""Waking senders: a transaction that queued outbox rows wakes this process's sender after
it commits, and other processes' through the outbox trigger's NOTIFY (PostgreSQL), never
for a rollback;
a LISTEN thread that comes back after losing its connection; a data_version watcher on
SQLite."""
from __future__ import annotations

import os
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from rewards import outbox
from rewards.models import OUTBOX_NOTIFY_CHANNEL, Program
from rewards.storage.db import make_engine
from web.runtime import wake_on_commit
from web.sender_runtime import listen, watch_sqlite

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def notify_now(engine: Engine, schema: str | None = None) -> None:
    """NOTIFY as the outbox trigger does: for rows in ``schema`` (the engine's own by default)."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_notify(:channel, coalesce(:schema, current_schema()))"),
                     {"channel": OUTBOX_NOTIFY_CHANNEL, "schema": schema})


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_the_listener_wakes_on_notify_and_survives_a_lost_connection(engine: Engine) -> None:
    woken = threading.Event()
    stop = threading.Event()
    thread = threading.Thread(target=listen, args=(engine, woken.set, stop), kwargs={"timeout": 0.05, "retry_seconds": 0.05})
    thread.start()
    try:
        assert woken.wait(5), "no wake once listening (rows queued before it listened)"
        woken.clear()
        notify_now(engine, schema="another_deployment")
        assert not woken.wait(0.3), "woken by rows in another schema"
        notify_now(engine)
        assert woken.wait(2), "NOTIFY did not wake it"
        with engine.begin() as conn:  # the server drops our listener's connection
            killed = conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"
            ), {"name": f"loyalty outbox listener {os.getpid()}"}).scalars().all()
        assert killed == [True]
        woken.clear()
        assert woken.wait(5), "no wake after reconnecting"
        woken.clear()
        notify_now(engine)
        assert woken.wait(2), "NOTIFY did not wake it after the reconnect"
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_the_listener_knows_its_rows_by_the_schema_its_outbox_is_in(engine: Engine, program: Program) -> None:
    """A search_path whose first schema is empty (a user's own schema, the tables in the
    next): the listener still wakes for its rows' NOTIFY, which names the table's schema."""
    with engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar()
    empty = f"{schema}_empty"
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{empty}"'))
    url = engine.url.set(query={**engine.url.query, "options": f"-csearch_path={empty},{schema}"})
    behind = make_engine(url.render_as_string(hide_password=False))
    woken, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=listen, args=(behind, woken.set, stop), kwargs={"timeout": 0.05})
    thread.start()
    try:
        assert woken.wait(5)
        woken.clear()
        with behind.begin() as conn:
            assert conn.execute(text("SELECT current_schema()")).scalar() == empty
        notify_now(engine, schema=empty)
        assert not woken.wait(0.3), "woken for a schema without our outbox"
        with behind.begin() as conn:  # rows queued as the app does, through the search_path
            conn.execute(text(
                "INSERT INTO outbox_messages (program_id, channel, address, kind, priority, payload, status, attempts, due_at,"
                " available_at, created_at) VALUES (:program, 'sms', '+15550001111', 'reply', 0, '{}', 'queued', 0, now(), now(), now())"
            ), {"program": program.id})
        assert woken.wait(2), "our rows' NOTIFY did not wake it"
    finally:
        stop.set()
        thread.join(5)
        behind.dispose()
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{empty}"'))


both_databases = pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)


@both_databases
def test_a_transaction_that_queued_rows_wakes_the_senders_once_it_commits(
    engine: Engine, sessions: sessionmaker[Session], program: Program,
) -> None:
    here: list[int] = []
    wake_on_commit(sessions, lambda: here.append(queued_rows()))
    elsewhere = threading.Event()
    stop = threading.Event()

    def queued_rows() -> int:  # as a sender sees the table: committed rows only
        with sessions() as s:
            return outbox.counts(s, program.id)["queued"]

    listener = None
    if engine.dialect.name == "postgresql":
        listener = threading.Thread(target=listen, args=(engine, elsewhere.set, stop), kwargs={"timeout": 0.05})
        listener.start()
        assert elsewhere.wait(5)  # the wake every listener gives itself on (re)connecting
        elsewhere.clear()
    try:
        with sessions.begin() as session:  # a transaction that queues nothing wakes nobody
            session.get(Program, program.id)
        with pytest.raises(RuntimeError), sessions.begin() as session:  # nor one rolled back
            outbox.enqueue(session, program.id, "telegram", "42", {"text": "lost"}, "reply", T0)
            raise RuntimeError("the webhook failed")
        assert here == [] and not elsewhere.wait(0.3)

        with sessions.begin() as session:
            outbox.enqueue(session, program.id, "telegram", "42", {"text": "hi"}, "reply", T0)
            outbox.enqueue(session, program.id, "telegram", "42", {"text": "again"}, "reply", T0)
            assert here == [] and not elsewhere.is_set()  # not before the rows are there
        assert here == [2]  # once, after the commit: both rows visible
        if listener is not None:
            assert elsewhere.wait(2), "other processes were not notified"
    finally:
        stop.set()
        if listener is not None:
            listener.join(5)


def test_the_sqlite_watcher_wakes_when_another_connection_commits(engine: Engine) -> None:
    woken = threading.Event()
    stop = threading.Event()
    thread = threading.Thread(target=watch_sqlite, args=(engine, woken.set, stop), kwargs={"interval": 0.005})
    thread.start()
    try:
        assert not woken.wait(0.2), "woken with nothing written"
        with engine.begin() as conn:  # a webhook's transaction in another process, as far as SQLite can tell
            conn.execute(text("CREATE TABLE queued (id INTEGER)"))
        assert woken.wait(2), "a commit did not wake it"
        woken.clear()
        assert not woken.wait(0.2), "woken again with nothing new written"
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO queued VALUES (1)"))
        assert woken.wait(2), "the second commit did not wake it"
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
