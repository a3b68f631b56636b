"""SQLite writers queue for the database's write lock (rewards/storage/db.py): a waiting writer
starts as soon as the lock is free, not after SQLite's own back-off of milliseconds, and
one that waits past the timeout gets SQLAlchemy's "database is locked" error (which the
webhooks answer with a 503, so the provider retries)."""
from __future__ import annotations

import threading
import time
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


def test_a_waiting_writer_starts_as_soon_as_the_lock_is_released(sqlite_engine: Engine) -> None:
    holding, release = threading.Event(), threading.Event()
    started_after_release: list[float] = []

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
            started_after_release.append(time.monotonic() - released_at)
            conn.execute(text("INSERT INTO t VALUES (2)"))

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(0.3)  # the writer is waiting now
    assert not started_after_release
    released_at = time.monotonic()
    release.set()
    holder.join(10)
    writer.join(10)
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [1, 2]
    # SQLite's own busy handler sleeps 25, 50, 100 ms at a time after this long a wait (it
    # started the writer about 30 ms late); the poll notices the free lock within about one.
    assert started_after_release[0] < 0.01, f"the writer started {started_after_release[0] * 1000:.1f} ms late"


def test_a_writer_that_waits_past_the_timeout_gets_database_is_locked(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    with sqlite_engine.begin() as holder:
        holder.execute(text("INSERT INTO t VALUES (1)"))
        with sqlite_engine.connect() as other:
            began = time.monotonic()
            with pytest.raises(OperationalError, match="database is locked"):
                other.execute(text("INSERT INTO t VALUES (2)"))
            assert 0.2 <= time.monotonic() - began < 5
    with sqlite_engine.begin() as conn:  # the lock is free again, and the busy timeout restored
        conn.execute(text("INSERT INTO t VALUES (3)"))
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 200
        assert conn.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [1, 3]
