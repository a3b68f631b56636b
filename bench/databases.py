"""A scratch database for a benchmark run: a SQLite file in a directory, or a fresh schema
in a PostgreSQL database (dropped afterwards), as a URL any process can open."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from rewards.storage.db import make_engine


@contextmanager
def scratch_database(postgres_url: str | None, workdir: Path, name: str) -> Iterator[str]:
    """Yield a DATABASE_URL: ``workdir/<name>.db`` on SQLite, or, given ``postgres_url``, that
    database with a new schema on the search path."""
    if postgres_url is None:
        yield f"sqlite:///{workdir / f'{name}.db'}"
        return
    schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(postgres_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in postgres_url else "?"
        yield f"{postgres_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
