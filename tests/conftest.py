"""Shared fixtures: a database per test (SQLite file; PostgreSQL schema when
LOYALTY_TEST_POSTGRES_URL is set), the demo program loaded, a fixed clock, and the ledger
audit run after every test that touched the database."""
from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from support import (  # noqa: F401
    NO_POSTGRES,
    POSTGRES_URL,
    T0,
    build_postgres_schema,
    drop_postgres_schema,
    models_sqlite_url,
    postgres_engine,
)

from rewards import ledger, staff
from rewards.models import Base, Program
from rewards.program.config import DEMO_PROGRAM_PATH, ProgramConfig, load_program_file
from rewards.program.programs import sync_program
from rewards.storage.db import make_engine, session_factory


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach a host that is not this machine fails loudly, at once."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (
            host.startswith("127.") or host in ("localhost", "::1") or host.startswith("/")
        ) and self.family != socket.AF_UNIX:
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True)
def _quick_password_hashes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Console passwords hashed with one round of PBKDF2 instead of scrypt, which takes a
    tenth of a second of CPU by design for each hash and each check (rewards/staff.py's
    PASSWORD_HASH_METHOD). A test that asks for ``production_password_hashes`` keeps scrypt."""
    if "production_password_hashes" not in request.fixturenames:
        monkeypatch.setattr(staff, "PASSWORD_HASH_METHOD", "pbkdf2:sha256:1")


@pytest.fixture
def production_password_hashes() -> str:
    """The product's password hash method, as it is outside the tests."""
    return staff.PASSWORD_HASH_METHOD


@pytest.fixture(params=["sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """The database engine; tests that matter for concurrency parametrize it with
    ``@pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)``."""
    schema = None
    if request.param == "postgres":
        if not POSTGRES_URL:
            pytest.skip(NO_POSTGRES)
        eng, schema = postgres_engine()
        build_postgres_schema(eng, schema, "models", Base.metadata.create_all)
    else:
        eng = make_engine(models_sqlite_url(tmp_path / "loyalty.db"))
    yield eng
    with Session(eng) as session:
        report = ledger.audit(session)
    eng.dispose()
    if schema:
        drop_postgres_schema(schema)
    assert report.ok, "\n".join(report.lines())


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def demo_config() -> ProgramConfig:
    return load_program_file(DEMO_PROGRAM_PATH)


@pytest.fixture
def program(sessions: sessionmaker[Session], demo_config: ProgramConfig) -> Program:
    with sessions.begin() as session:
        return sync_program(session, demo_config, T0)


@pytest.fixture
def session(sessions: sessionmaker[Session], program: Program) -> Iterator[Session]:
    """A session the test commits itself (commit() to make work visible to the audit)."""
    with sessions() as s:
        yield s
        s.commit()
