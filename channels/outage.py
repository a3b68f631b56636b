"""Saying once that something keeps failing, and once that it works again.

A loop that retries every few seconds (the sender, its LISTEN thread, the clock) would
otherwise log each attempt: a database away for an hour became thousands of tracebacks,
and nothing said when it came back. Here the first failure of a period is one line (with
the traceback only when the error is not the database's: that is a bug to see), the rest
are counted, and the first success after them says how long it lasted.
"""
from __future__ import annotations

import functools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


def first_line(error: BaseException) -> str:
    """The driver's own first line for a database error (a server that does not answer, a
    file that cannot be opened), without SQLAlchemy's SQL and links; "" when it says nothing."""
    original = getattr(error, "orig", None) or error
    return next((line.strip() for line in str(original).splitlines() if line.strip()), "")


def describe(error: BaseException) -> str:
    """One line for an error: its type and ``first_line``."""
    name = type(getattr(error, "orig", None) or error).__name__
    first = first_line(error)
    return f"{name}: {first}" if first else name


@functools.cache
def _database_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OperationalError, InterfaceError, PoolTimeout, sqlite3.OperationalError]
    try:
        import psycopg  # the LISTEN thread talks to psycopg directly; optional
    except ImportError:
        pass
    else:
        errors += [psycopg.OperationalError, psycopg.InterfaceError]
    return tuple(errors)


def is_database_trouble(error: BaseException) -> bool:
    """The database is away or cannot be opened (through SQLAlchemy or straight from its
    driver), not a statement it refused: retried, no traceback wanted."""
    return isinstance(error, _database_errors())


class Outage:
    """The failure periods of one thing (``what``: "outbox sender w1", "the clock")."""

    def __init__(self, logger: logging.Logger, what: str, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.logger, self.what, self._monotonic = logger, what, monotonic
        self.since: float | None = None
        self.failures = 0
        self._lock = threading.Lock()  # the clock's jobs run on several threads

    def failed(self, error: BaseException, doing: str = "", retry: str = "trying again") -> None:
        """Another failed attempt: logged only if it starts a failure period."""
        with self._lock:
            self.failures += 1
            if self.since is not None:
                return
            self.since = self._monotonic()
        action = f" {doing}" if doing else ""
        if is_database_trouble(error):
            self.logger.warning("%s could not%s: the database is unavailable (%s); %s, quietly until it works",
                                self.what, action, describe(error), retry)
        else:
            self.logger.error("%s could not%s (%s); %s, quietly until it works", self.what, action,
                              describe(error), retry, exc_info=error)

    def recovered(self) -> None:
        """An attempt worked: says so if it ends a failure period."""
        with self._lock:
            if self.since is None:
                return
            lasted, failures = self._monotonic() - self.since, self.failures
            self.since, self.failures = None, 0
        self.logger.warning("%s works again after %.0f s (%d failed attempts)", self.what, lasted, failures)
