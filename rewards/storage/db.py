"""Engines for SQLite (embedded default) and PostgreSQL, with the settings each needs.

SQLite follows SQLAlchemy's pysqlite recipe: the driver's own transaction handling is
turned off and every transaction starts with ``BEGIN IMMEDIATE``, so writers queue on the
database lock instead of failing half-way with "database is locked". WAL lets readers in
other processes proceed while one writes.

Queueing for the lock is done here, not by SQLite's busy handler: that one sleeps 1, 2, 5,
10... ms between tries, so with several gunicorn workers a writer slept for milliseconds
while the lock sat free (a webhook's transaction takes about one). ``BEGIN IMMEDIATE`` is
tried every 50 microseconds instead (a failed try costs a few), for up to ``SQLITE_BUSY_TIMEOUT_MS``.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from time import monotonic, sleep
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, or_, text
from sqlalchemy.orm import Session, sessionmaker

from rewards.storage.prepared import THROUGH_SESSION

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_LOCK_POLL_SECONDS = 0.00005


def normalize_url(url: str) -> str:
    """Accept the URL forms hosting platforms hand out and pick the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str, *, prepared_through_session: bool = False, **kwargs: Any) -> Engine:
    """The engine for ``url``; ``prepared_through_session`` runs the statements of
    rewards/storage/prepared.py through the Session (slower; in the echo log)."""
    url = normalize_url(url)
    if prepared_through_session:
        kwargs["execution_options"] = {**kwargs.get("execution_options", {}), THROUGH_SESSION: True}
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get("read_only"):
            # A long read (the clock summing up the figures): a plain BEGIN, which in WAL
            # mode lets writers go on meanwhile.
            connection.connection.dbapi_connection.execute("BEGIN")
            return
        begin_immediate(connection)


def begin_immediate(connection: Any) -> None:
    """Take SQLite's write lock for the transaction SQLAlchemy is beginning on
    ``connection``, trying often while another connection holds it. After
    SQLITE_BUSY_TIMEOUT_MS the last try's "database is locked" is raised (as SQLAlchemy's
    OperationalError, which webhooks answer with a 503 so the provider retries)."""
    raw = connection.connection.dbapi_connection
    raw.execute("PRAGMA busy_timeout=0")  # fail at once while locked: we wait here, briefly
    try:
        deadline = monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        while monotonic() < deadline:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error):
                    break  # not the lock: the try below raises it the SQLAlchemy way
            sleep(SQLITE_LOCK_POLL_SECONDS)
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def one_of(column: Any, values: Sequence[Any]) -> Any:
    """``column`` equals one of the constant ``values``: what ``column.in_(values)`` means,
    but compiled once. An IN list is expanded afresh on every execution (about 20 us each,
    measured), on statements every message runs (rewards/standing.py)."""
    return or_(*(column == value for value in values))


def schema_of(connection: Connection, table: str) -> str | None:
    """PostgreSQL: the schema ``table`` is found in through the connection's search_path
    (None if it is not there). Several deployments may share a database, one schema each:
    what tells their notifications and locks apart. (``current_schema()`` is the first
    schema of the path that exists, which need not hold the tables.)"""
    return connection.execute(text(
        "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.oid = to_regclass(:table)"
    ), {"table": table}).scalar()


# SQLSTATEs of a transaction that lost to a concurrent one and may simply run again:
# deadlock_detected, serialization_failure, and unique_violation (another transaction
# inserted the same key first: run again, the work finds that row and takes the other road).
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001", "23505"})


def retryable(error: BaseException) -> bool:
    """Whether ``error`` (SQLAlchemy's wrapper of a driver error, or the driver's own) says
    the transaction lost a race and would succeed if run again from the start: a
    PostgreSQL deadlock, serialization failure or unique key taken meanwhile; SQLite's
    "database is locked" or a UNIQUE constraint taken meanwhile."""
    original = getattr(error, "orig", None) or error
    if getattr(original, "sqlstate", None) in _RETRYABLE_SQLSTATES:
        return True
    if isinstance(original, sqlite3.OperationalError):
        return "locked" in str(original) or "busy" in str(original)
    return isinstance(original, sqlite3.IntegrityError) and str(original).startswith("UNIQUE constraint failed")


def lock_for_transaction(session: Session, key: str) -> None:
    """Hold ``key`` until ``session``'s transaction ends, so transactions naming the same key
    run one after another: what a count-then-insert needs to hold under concurrency.
    PostgreSQL: a transaction-level advisory lock on a hash of the key (a collision only
    makes two keys wait for each other). SQLite: nothing to do, every transaction already
    holds the database's write lock from its first statement (``BEGIN IMMEDIATE``)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
