"""Waking senders in other processes: NOTIFY after a commit, a LISTEN thread that comes
back after losing its connection (PostgreSQL); a data_version watcher on SQLite."""
from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import Engine, text

from web.sender_runtime import listen, notifier, watch_sqlite


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_the_listener_wakes_on_notify_and_survives_a_lost_connection(engine: Engine) -> None:
    woken = threading.Event()
    stop = threading.Event()
    thread = threading.Thread(target=listen, args=(engine, woken.set, stop), kwargs={"timeout": 0.05, "retry_seconds": 0.05})
    thread.start()
    try:
        assert woken.wait(5), "no wake once listening (rows queued before it listened)"
        woken.clear()
        notifier(engine)()
        assert woken.wait(2), "NOTIFY did not wake it"
        with engine.begin() as conn:  # the server drops our listener's connection
            killed = conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"
            ), {"name": f"loyalty outbox listener {os.getpid()}"}).scalars().all()
        assert killed == [True]
        woken.clear()
        assert woken.wait(5), "no wake after reconnecting"
        woken.clear()
        notifier(engine)()
        assert woken.wait(2), "NOTIFY did not wake it after the reconnect"
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_notifying_on_sqlite_does_nothing(engine: Engine) -> None:
    notifier(engine)()  # no error, no statement: SQLite senders poll


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
