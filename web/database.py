"""Opening the database and keeping its schema at the Alembic head; what is wrong with
DATABASE_URL or the database it names, said in one line."""
from __future__ import annotations

import re
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

import migrations
from channels.outage import first_line
from rewards.errors import LoyaltyError
from rewards.storage.db import make_engine, normalize_url

MIGRATIONS_DIR = Path(migrations.__file__).parent
URL_EXAMPLES = "like sqlite:///loyalty.db or postgresql://user:password@host:5432/loyalty"


class SetupError(LoyaltyError):
    """The database or program is not ready; the message says which command fixes it."""


def open_engine(url: str, *, sql_through_orm: bool = False) -> Engine:
    """The engine for DATABASE_URL, or a SetupError saying in one line what is wrong with
    it: not a URL, a driver that is not installed, a SQLite file in a folder that does not
    exist. (A server that does not answer is only found on first use: ``describe_failure``.)"""
    try:
        parsed = make_url(normalize_url(url))
    except ArgumentError:
        raise SetupError(f"DATABASE_URL is not a database URL: write it {URL_EXAMPLES}") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).expanduser().resolve().parent
        if not folder.is_dir():
            raise SetupError(f"DATABASE_URL names a SQLite file in {folder}, a folder that does not exist:"
                             " create the folder or change DATABASE_URL")
    try:
        return make_engine(url, prepared_through_session=sql_through_orm)
    except (ImportError, NoSuchModuleError) as error:
        raise SetupError(_missing_driver(parsed, error)) from None
    except ArgumentError as error:
        raise SetupError(f"DATABASE_URL is not usable ({error}): write it {URL_EXAMPLES}") from None


def _missing_driver(url: URL, error: Exception) -> str:
    if url.get_backend_name() == "postgresql":
        return ('DATABASE_URL is a PostgreSQL database but its driver (psycopg) is not installed:'
                ' run pip install ".[postgres]"')
    return (f'DATABASE_URL names a "{url.get_backend_name()}" database, which this program cannot use ({error}):'
            f" write it {URL_EXAMPLES}")


def describe_failure(error: BaseException, url: URL) -> str:
    """One line for a database that would not open or answer: what and what to do. Never
    the password."""
    reason = first_line(error) or type(getattr(error, "orig", None) or error).__name__
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        return f"cannot open the SQLite database {url.database} ({reason}): check that the file's folder exists and is writable"
    missing = re.search(r'database "([^"]+)" does not exist', reason)
    if missing:
        return (f'the PostgreSQL database "{missing.group(1)}" does not exist on {url.host or "localhost"}:'
                f" create it (createdb {missing.group(1)}) or correct DATABASE_URL")
    if "password authentication failed" in reason or ("role" in reason and "does not exist" in reason):
        return f'PostgreSQL refused the login of user "{url.username}": check the user and password in DATABASE_URL'
    reason = reason.removeprefix("connection failed: ")
    return f"cannot reach the database {shown} ({reason}): is the server running? check DATABASE_URL"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision(engine)
