"""SQLite writers queue for the database's write lock (rewards/storage/db.py): a waiting writer
starts as soon as the lock is free, not after SQLite's own back-off of milliseconds, and
one that waits past the timeout gets SQLAlchemy's "database is locked" error (which the
webhooks answer with a 503, so the provider retries)."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from rewards.storage import db
from rewards.storage.db import make_engine


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    yield engine
    engine.dispose()


def test_a_waiting_writer_starts_as_soon_as_the_lock_is_released(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The waiting writer's tries fail at once (SQLite's own busy handler, which would sleep
    milliseconds between its tries, is off meanwhile) and it waits between them in our short
    poll only: the first try after the lock is released takes it."""
    holding, release = threading.Event(), threading.Event()
    waiting, lock_free = threading.Event(), threading.Event()
    naps: list[float] = []

    def nap(seconds: float) -> None:  # the writer's wait between two tries
        naps.append(seconds)
        waiting.set()
        assert lock_free.wait(10), "the lock was never released"

    monkeypatch.setattr(db, "sleep", nap)

    def hold() -> None:
        with sqlite_engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)

    def write() -> None:
        with sqlite_engine.begin() as conn:  # waits in BEGIN IMMEDIATE
            conn.execute(text("INSERT INTO t VALUES (2)"))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert waiting.wait(10), "the writer's try did not fail at once: SQLite's busy handler waited instead"
        # The writer is waiting and has written nothing (read beside the engine, whose every
        # transaction would queue for the write lock too).
        reader = sqlite3.connect(sqlite_engine.url.database)
        try:
            assert reader.execute("SELECT n FROM t").fetchall() == []
        finally:
            reader.close()
    finally:
        release.set()
        holder.join(10)
        lock_free.set()  # the holder has committed: the writer's next try finds the lock free
        writer.join(10)
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [1, 2]
    assert naps == [db.SQLITE_LOCK_POLL_SECONDS], "the writer kept waiting after the lock was free"


def test_a_writer_that_waits_past_the_timeout_gets_database_is_locked(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tries go on for SQLITE_BUSY_TIMEOUT_MS by the clock, then "database is locked". The
    clock is the test's: each wait between tries moves it by the wait asked for."""
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    clock = [1000.0]
    monkeypatch.setattr(db, "monotonic", lambda: clock[0])
    monkeypatch.setattr(db, "sleep", lambda seconds: clock.__setitem__(0, clock[0] + seconds))
    with sqlite_engine.begin() as holder:
        holder.execute(text("INSERT INTO t VALUES (1)"))
        with sqlite_engine.connect() as other:
            with pytest.raises(OperationalError, match="database is locked"):
                other.execute(text("INSERT INTO t VALUES (2)"))
            waited = clock[0] - 1000.0
            assert 0.2 <= waited < 0.2 + 2 * db.SQLITE_LOCK_POLL_SECONDS, f"gave up after {waited} s"
    with sqlite_engine.begin() as conn:  # the lock is free again, and the busy timeout restored
        conn.execute(text("INSERT INTO t VALUES (3)"))
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 200
        assert conn.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [1, 3]
