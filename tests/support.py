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
from sqlalchemy import Engine, select, text
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
    migrated once per test process (kept beside the tests' own folders, so pytest clears it
    with them), instead of every app's first request running all the migrations. Tests of
    the migrations themselves start from an empty file."""
    template = path.parent.parent / "migrated-head.db"
    if not template.exists():
        from web import database

        building = template.with_suffix(f".{os.getpid()}.tmp")
        engine = make_engine(f"sqlite:///{building}")
        database.upgrade(engine)
        engine.dispose()
        building.replace(template)
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


def postgres_engine() -> tuple[Engine, str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)  # type: ignore[arg-type]
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    engine = make_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"}, pool_size=25, max_overflow=5)  # type: ignore[arg-type]
    return engine, schema


def postgres_schema_url() -> tuple[str, str]:
    """A fresh schema and a DATABASE_URL whose connections use it: (url, schema), for an
    app or a process under test that opens its own engine."""
    engine, schema = postgres_engine()  # creates the schema
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
