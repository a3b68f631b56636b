"""What tests share besides fixtures: the fixed clock and the PostgreSQL test schemas.
(A module of its own: ``from conftest import`` is ambiguous with several conftest files.)"""
from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from rewards.models import Code
from rewards.storage.db import make_engine

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday afternoon
POSTGRES_URL = os.environ.get("LOYALTY_TEST_POSTGRES_URL")
NO_POSTGRES = "LOYALTY_TEST_POSTGRES_URL is not set (CI sets it; .ci/run shows how)"


def wait_until(condition: Callable[[], object], failure: str, timeout: float = 10.0) -> None:
    """Wait for something another thread or process does: look often, fail with ``failure``
    after ``timeout`` seconds. The timeout only bounds a broken run; nothing is timed."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.005)


def migrated_sqlite_url(path: Path) -> str:
    """A SQLite URL for ``path``, the file already migrated to the head: a copy of one
    migrated once per test process, instead of every app's first request running all the
    migrations. Tests of the migrations themselves start from an empty file."""
    from web import database

    return _copied_sqlite_url(path, "migrated-head.db", database.upgrade)


def models_sqlite_url(path: Path) -> str:
    """A SQLite URL for ``path``, the file holding the models' tables (``create_all``): a
    copy of one made once per test process (the ``engine`` fixture's database)."""
    from rewards.models import Base

    return _copied_sqlite_url(path, "models.db", Base.metadata.create_all)


def _copied_sqlite_url(path: Path, name: str, build: Callable[[Engine], object]) -> str:
    """``path``, a copy of the file ``name`` that ``build`` made once per test process (kept
    beside the tests' own folders, so pytest clears it with them)."""
    template = path.parent.parent / name
    if not template.exists():
        building = template.with_suffix(f".{os.getpid()}.tmp")
        engine = make_engine(f"sqlite:///{building}")
        build(engine)
        engine.dispose()
        building.replace(template)
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


def postgres_engine() -> tuple[Engine, str]:
    """An engine on a new, empty PostgreSQL schema: (engine, schema)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)  # type: ignore[arg-type]
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    engine = make_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"}, pool_size=25, max_overflow=5)  # type: ignore[arg-type]
    return engine, schema


# What ``build_postgres_schema`` recorded, by what it built: SQL for one round trip.
_RECORDED: dict[str, tuple[str, str]] = {}


def build_postgres_schema(engine: Engine, schema: str, what: str, build: Callable[[Engine], object]) -> None:
    """Build the empty ``schema`` (``engine``'s) as ``build`` does: the first time this test
    process builds ``what``, by running ``build`` and recording every statement it sends
    (its parameters written in); after that, by sending the recording in one round trip.
    All the migrations take PostgreSQL a second or more through Alembic; replayed, a few
    tenths. The recording is kept in memory only, so it never outlives the migrations or
    models it was made from; a statement naming the recorded schema names the new one."""
    if what in _RECORDED:
        recorded_schema, script = _RECORDED[what]
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cursor:
                cursor.execute(script.replace(recorded_schema, schema))  # no parameters: many statements at once
            raw.commit()
        finally:
            raw.close()
        return
    import psycopg

    statements: list[str] = []

    def record(_conn: Any, cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool) -> None:
        if parameters is None:
            statements.append(statement)
            return
        literal = psycopg.ClientCursor(cursor.connection)
        statements.extend(literal.mogrify(statement, each) for each in (parameters if executemany else [parameters]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        build(engine)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    _RECORDED[what] = (schema, "\n;\n".join(statements))


def migrated_postgres_url() -> tuple[str, str]:
    """A new schema already migrated to the head and a DATABASE_URL whose connections use it:
    (url, schema), for an app or a process under test that opens its own engine. The
    PostgreSQL twin of ``migrated_sqlite_url``; tests of the migrations themselves start
    from an empty schema (``postgres_engine``)."""
    from web import database

    engine, schema = postgres_engine()
    try:
        build_postgres_schema(engine, schema, "migrations", database.upgrade)
    finally:
        engine.dispose()
    separator = "&" if "?" in POSTGRES_URL else "?"  # type: ignore[operator]
    return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}", schema


def drop_postgres_schema(schema: str) -> None:
    admin = make_engine(POSTGRES_URL)  # type: ignore[arg-type]
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def outstanding(session: Session, member_id: int, now: datetime) -> list[Code]:
    """A member's codes still to be used, newest first: what a test checks was issued or returned."""
    return list(session.scalars(
        select(Code).where(Code.member_id == member_id, Code.status == "issued", Code.expires_at > now)
        .order_by(Code.issued_at.desc())
    ))


class Unplugged:
    """A session factory whose database can be taken away: while ``away``, every
    transaction fails as SQLite's does when its file cannot be opened."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions, self.away = sessions, False

    def _check(self) -> None:
        if self.away:
            raise OperationalError("BEGIN", {}, sqlite3.OperationalError("unable to open database file"))

    def begin(self) -> AbstractContextManager[Session]:
        self._check()
        return self.sessions.begin()

    def __call__(self, **kwargs: Any) -> Session:
        self._check()
        return self.sessions(**kwargs)


def said(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What was logged at WARNING and above, having checked that none carries a traceback."""
    assert all(record.exc_info is None for record in caplog.records), "a traceback was logged"
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
