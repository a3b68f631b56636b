"""Statements every message runs, compiled once per database and run on the driver's cursor.

A "balance" webhook is one transaction of six small statements, and on SQLite it holds the
database's write lock from its first statement to its commit, so what each statement costs
bounds how many messages a second the database answers. Through a Session, the identity
lookup cost 81 us on SQLite where the driver alone took 5 (measured on the 2-core bench
machine); on PostgreSQL SQLAlchemy's share was ~150 us a statement beside the round trip.

``Prepared`` keeps the statement written with SQLAlchemy Core, so the SQL is SQLAlchemy's
for each dialect (casts, quoting, ON CONFLICT), and the values are converted by the column
types' own bind and result processors (aware datetimes, JSON, booleans); it runs the
statement in the session's transaction on the DBAPI cursor. The session is flushed first
when it autoflushes, as ``Session.execute`` would; driver errors come out as SQLAlchemy's
(``OperationalError``, ``IntegrityError``...), a lost connection invalidated.

What it leaves out, and refuses where it can tell: ORM entities, IN lists expanded per
call (use ``rewards.storage.db.one_of``), rows returned from ``many`` (the driver's executemany),
Python-side column defaults other than constants, engine events (these statements are not
in SQLAlchemy's echo log).
``tests/rewards/test_prepared.py`` holds every statement run this way to SQLAlchemy's own
results on SQLite and PostgreSQL.

It reads SQLAlchemy's compiled form (``positiontup``, ``bind_names``, ``insert_prefetch``,
``escaped_bind_names``): pyproject.toml pins the SQLAlchemy versions that test passes on.
An engine made with the execution option ``THROUGH_SESSION`` (``make_engine(...,
prepared_through_session=True)``; the app sets it from LOYALTY_SQL_THROUGH_ORM=1) runs the
same statements through ``Session.execute`` instead: slower, but in the echo log and the
engine's events, for debugging. The statements are checked the same way on both roads.
"""
from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

_REQUIRED = object()
# The engine execution option that sends these statements through the Session.
THROUGH_SESSION = "loyalty_prepared_through_session"


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    # The arguments with every constant bound already converted; the caller's values go in
    # at ``slots`` (positions for qmark, names for named paramstyles).
    template: list[Any] | dict[str, Any]
    given: tuple[tuple[str, tuple[Any, ...], Any, Callable[[Any], Any] | None], ...]  # key, slots, default, process
    results: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column, result processor)


class Prepared:
    """``statement`` (a Core SELECT, INSERT, UPDATE or DELETE, bind parameters by name) run
    cheaply; see the module's docstring for what that leaves out."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._plans: weakref.WeakKeyDictionary[Dialect, _Plan] = weakref.WeakKeyDictionary()

    def rows(self, session: Session, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row the statement returns (a SELECT, or a DML statement's RETURNING)."""
        return self._run(session, params)[0]

    def first(self, session: Session, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        rows = self._run(session, params)[0]
        return rows[0] if rows else None

    def one(self, session: Session, params: Mapping[str, Any]) -> tuple[Any, ...]:
        rows = self._run(session, params)[0]
        if len(rows) != 1:
            raise ValueError(f"expected one row, got {len(rows)}")
        return rows[0]

    def run(self, session: Session, params: Mapping[str, Any]) -> int:
        """A statement that returns nothing: the number of rows it changed."""
        return self._run(session, params)[1]

    def many(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
        """A statement that returns nothing, run once for each of ``rows`` (the driver's
        executemany): the number of rows changed. A chunk's rows share a few instants (now,
        a morning), so each column's converted datetimes are remembered for the call."""
        if self.statement.exported_columns:
            raise ValueError("Prepared.many runs statements that return no rows")
        remembered: dict[int, dict[datetime, Any]] = {}

        def convert(index: int, process: Callable[[Any], Any], value: Any) -> Any:
            if type(value) is not datetime:
                return process(value)
            seen = remembered.setdefault(index, {})
            if value not in seen:
                seen[value] = process(value)
            return seen[value]

        return self._execute(session, rows, lambda plan: [self._args(plan, row, convert) for row in rows], many=True)[1]

    def _run(self, session: Session, params: Mapping[str, Any]) -> tuple[list[tuple[Any, ...]], int]:
        return self._execute(session, params, lambda plan: self._args(plan, params))

    @staticmethod
    def _args(plan: _Plan, params: Mapping[str, Any],
              convert: Callable[[int, Callable[[Any], Any], Any], Any] | None = None) -> list[Any] | dict[str, Any]:
        args = plan.template.copy()
        for index, (key, slots, default, process) in enumerate(plan.given):
            value = params.get(key, default)
            if value is _REQUIRED:
                raise KeyError(f"a value is required for the bind parameter {key!r}")
            if process is not None:
                value = process(value) if convert is None else convert(index, process, value)
            for slot in slots:
                args[slot] = value
        return args

    def _execute(self, session: Session, given: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                 arguments: Callable[[_Plan], Any], many: bool = False) -> tuple[list[tuple[Any, ...]], int]:
        if session.autoflush:
            session.flush()  # what Session.execute does: pending ORM changes are seen
        connection = session.connection()
        dialect = connection.dialect
        plan = self._plans.get(dialect) or self._compile(dialect)
        if connection.get_execution_options().get(THROUGH_SESSION):
            return self._through_session(session, plan, arguments, given, many)
        args = arguments(plan)
        raw = connection.connection.dbapi_connection
        cursor = raw.cursor()  # type: ignore[union-attr]
        try:
            if many:
                cursor.executemany(plan.sql, args)
            else:
                cursor.execute(plan.sql, args)
            rows = cursor.fetchall() if cursor.description and not many else []
            count = cursor.rowcount
        except dialect.loaded_dbapi.Error as error:
            lost = dialect.is_disconnect(error, raw, cursor)  # type: ignore[arg-type]
            if lost:
                connection.invalidate(error)
            raise DBAPIError.instance(plan.sql, args, error, dialect.loaded_dbapi.Error,
                                      connection_invalidated=lost, dialect=dialect) from error
        finally:
            cursor.close()
        if plan.results and rows:
            processed = []
            for row in rows:
                row = list(row)
                for index, process in plan.results:
                    row[index] = process(row[index])
                processed.append(tuple(row))
            return processed, count
        return rows, count

    def _through_session(self, session: Session, plan: _Plan, arguments: Callable[[_Plan], Any],
                         given: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                         many: bool) -> tuple[list[tuple[Any, ...]], int]:
        """The statement by ``Session.execute``: SQLAlchemy converts the values and fills the
        defaults. Only the statement's own parameters are passed (another key naming a column
        would become a SET or VALUES clause there), and a missing required one is refused
        as on the driver's road."""
        arguments(plan)
        keys = [key for key, *_ in plan.given]

        def own(params: Mapping[str, Any]) -> dict[str, Any]:
            return {key: params[key] for key in keys if key in params}

        params: Any = [own(row) for row in given] if many else own(given)  # type: ignore[arg-type]
        result = session.execute(self.statement, params)
        rows = [tuple(row) for row in result.all()] if result.returns_rows else []
        return rows, result.rowcount

    def _compile(self, dialect: Dialect) -> _Plan:
        compiled: Any = self.statement.compile(dialect=dialect)
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise ValueError("Prepared statements cannot expand IN lists per call (use rewards.storage.db.one_of)")
        prefetch = compiled.insert_prefetch
        if compiled.update_prefetch or any(not column.default.is_scalar for column in prefetch):
            raise ValueError("Prepared statements apply constant column defaults only (no onupdate)")
        escaped = compiled.escaped_bind_names or {}
        defaults = {column.key: column.default.arg for column in prefetch}  # left to SQLAlchemy by the statement
        names = [escaped.get(name, name) for name in compiled.positiontup] if compiled.positional else None
        template: Any = [None] * len(names) if names is not None else {}
        given = []
        for bindparam, name in compiled.bind_names.items():
            name = escaped.get(name, name)
            slots = tuple(i for i, each in enumerate(names) if each == name) if names is not None else (name,)
            process = bindparam.type.dialect_impl(dialect).bind_processor(dialect)
            if bindparam.key in defaults:
                default = defaults[bindparam.key]
            elif bindparam.required:
                default = _REQUIRED
            else:
                default = bindparam.effective_value
            if bindparam.callable is not None:
                raise ValueError("Prepared statements take no bind parameters computed per call")
            if bindparam.unique:  # an anonymous bind: a constant of the statement
                value = process(default) if process is not None else default
                for slot in slots:
                    template[slot] = value
            else:
                given.append((bindparam.key, slots, default, process))
        results = []
        for index, column in enumerate(self.statement.exported_columns):
            process = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if process is not None:
                results.append((index, process))
        plan = _Plan(compiled.string, template, tuple(given), tuple(results))
        self._plans[dialect] = plan
        return plan
