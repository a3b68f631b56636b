"""Rows into one table, fast on both databases: a campaign writes 100,000 at a time, a
webhook one inbound row and one outbox row per message.

PostgreSQL gets one ``INSERT ... SELECT ... FROM json_to_recordset(:rows)`` a call: the rows
travel as one JSON text, encoded by the C json encoder and parsed by the server, where a
multi-row VALUES list makes psycopg parse one placeholder per value, an executemany
costs a statement execution per row, and arrays are escaped element by element in Python.
SQLite gets the driver's executemany (``Prepared.many``, each chunk's datetimes converted
once), or SQLAlchemy's multi-row INSERTs when rows come back. Both build their statement once per table and shape: building
an INSERT costs more than running a single-row one. A single row (a webhook's inbound and
outbox rows) is one plain INSERT, run on the driver (rewards/storage/prepared.py).

Rows are given as the table's Python values (aware datetimes, dicts for JSON) and
converted here the way the column types would convert them.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Table, bindparam, insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from rewards.models import UTCDateTime
from rewards.storage.prepared import Prepared


def _pg_type(column: Any, dialect: Any) -> str:
    if isinstance(column.type, JSON):
        return "json"
    if isinstance(column.type, UTCDateTime):
        return "timestamp"
    return str(column.type.compile(dialect=dialect))


@functools.lru_cache(maxsize=4096)  # a chunk's rows share a few instants (now, a morning)
def _utc_text(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat()


def _plain(value: Any) -> Any:
    return _utc_text(value) if isinstance(value, datetime) else value


def insert_many(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], *,
    conflict: Sequence[str] | None = None, returning: Sequence[str] = (),
) -> list[Any]:
    """Insert ``rows`` (dicts with the same keys). With ``conflict`` (the columns of a unique
    constraint) a row that clashes is left out. Returns the ``returning`` columns of the
    rows inserted, in no particular order."""
    if not rows:
        return []
    if not returning:
        insert_count(session, table, rows, conflict=conflict)
        return []
    bind = session.get_bind()
    if len(rows) == 1:  # a webhook's inbound or outbox row: one plain INSERT, run on the driver
        one = _single_insert(bind.dialect.name, table, tuple(rows[0]), tuple(conflict or ()), tuple(returning))
        return list(one.rows(session, rows[0]))
    if bind.dialect.name == "postgresql":
        sql = _postgres_insert(table, tuple(rows[0]), tuple(conflict or ()), tuple(returning), bind.dialect)
        return list(session.execute(sql, {"rows": _as_json(rows)}).all())
    return list(session.execute(_sqlite_insert(table, tuple(conflict or ()), tuple(returning)), list(rows)).all())


def insert_count(session: Session, table: Table, rows: Sequence[dict[str, Any]], *,
                 conflict: Sequence[str] | None = None) -> int:
    """``insert_many`` when only how many rows went in matters (those ``conflict`` left out
    are not counted). On SQLite the rows go to the driver's executemany (``Prepared.many``:
    SQLAlchemy's own executemany converted each row's values one by one, a fifth of a
    campaign's fan-out)."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect
    names, clash = tuple(rows[0]), tuple(conflict or ())
    if len(rows) == 1 or dialect.name != "postgresql":
        statement = _single_insert(dialect.name, table, names, clash, ())
        return statement.run(session, rows[0]) if len(rows) == 1 else statement.many(session, rows)
    return int(session.execute(_postgres_insert(table, names, clash, (), dialect), {"rows": _as_json(rows)}).rowcount)


def _as_json(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as json_to_recordset reads them (one JSON text, by the C encoder)."""
    return json.dumps([{k: _plain(v) for k, v in row.items()} for row in rows], separators=(",", ":"))


@functools.cache
def _single_insert(dialect: str, table: Table, names: tuple[str, ...], conflict: tuple[str, ...],
                   returning: tuple[str, ...]) -> Prepared:
    statement: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    statement = statement.values({name: bindparam(name) for name in names})
    if conflict:
        statement = statement.on_conflict_do_nothing(index_elements=list(conflict))
    return Prepared(statement.returning(*(table.c[n] for n in returning)) if returning else statement)


@functools.cache
def _postgres_insert(table: Table, names: tuple[str, ...], conflict: tuple[str, ...], returning: tuple[str, ...],
                     dialect: Any) -> Any:
    quoted = ", ".join(f'"{name}"' for name in names)
    record = ", ".join(f'"{name}" {_pg_type(table.c[name], dialect)}' for name in names)
    sql = f'INSERT INTO "{table.name}" ({quoted}) SELECT {quoted} FROM json_to_recordset(CAST(:rows AS json)) AS r({record})'
    if conflict:
        sql += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
    return text(sql)


@functools.cache
def _sqlite_insert(table: Table, conflict: tuple[str, ...], returning: tuple[str, ...]) -> Any:
    statement: Any = sqlite.insert(table).on_conflict_do_nothing(index_elements=list(conflict)) if conflict \
        else insert(table)
    return statement.returning(*(table.c[n] for n in returning)) if returning else statement
