"""The runtime every outer layer shares: settings, engine, sessions, clock, the program served,
and one unit of work run again when it lost a race. The app factory (web/app.py), the CLI and
the processes make one; a request or a command reads it with ``runtime()``."""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from flask import current_app
from sqlalchemy import Engine, event, inspect
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from bot.messages import IncomingMessage
from bot.turn import BotSettings
from rewards import outbox
from rewards.errors import NotFound
from rewards.models import Program
from rewards.program.config import ProgramConfig, load_program_file
from rewards.program.programs import config_of, get_program, sync_program
from rewards.storage.db import retryable
from web import database
from web.database import SetupError
from web.inbox import Received, receive
from web.settings import Settings

__all__ = ["ATTEMPTS", "UNAVAILABLE", "Runtime", "SetupError", "runtime", "utcnow", "wake_on_commit"]

log = logging.getLogger("loyalty")
T = TypeVar("T")

# Runs of one unit of work when the database reports a lost race (rewards.storage.db.retryable).
ATTEMPTS = 4


def utcnow() -> datetime:
    return datetime.now(UTC)


# What a request answers with 503 (a provider then redelivers, a till tries again): the
# program or schema is not ready, the database cannot be reached or is busy, or the
# transaction lost a race it went on losing after ATTEMPTS runs.
UNAVAILABLE: tuple[type[Exception], ...] = (SetupError, OperationalError, InterfaceError, IntegrityError, PoolTimeout)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Callable[[], datetime] = utcnow
    program_slug: str | None = None
    # The channels that are on (web/providers: worked out from the settings once, not on
    # every webhook): notices and invite links name only these.
    enabled_channels: tuple[str, ...] = ()
    # Called after any transaction of ``sessions`` that queued outbox rows has committed
    # (``wake_on_commit`` below; on PostgreSQL the transaction has also notified
    # the senders of other processes): wakes a sender in this process. Set where one runs.
    wake_sender: Callable[[], None] = lambda: None
    # The bot's @name for invite links, learnt from getMe when the process starts
    # (web/providers/telegram.py learn_at_start).
    telegram_username: str | None = None
    _ready: bool = field(default=False, repr=False)
    _program_id: int | None = field(default=None, repr=False)
    _phone_region: tuple[str | None] | None = field(default=None, repr=False)
    _program_loaded: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        wake_on_commit(self.sessions, lambda: self.wake_sender())

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed on success, rolled back on any error."""
        self.ensure_schema()
        with self.sessions.begin() as session:
            yield session

    def run(self, work: Callable[[Session], T]) -> T:
        """``work(session)`` in one transaction, run again from the start (in a new one)
        when the database says it lost a race: a deadlock, a serialization failure, a unique
        key taken meanwhile, SQLite's lock. Safe because a rolled-back run left nothing and
        ``work`` only touches the database (an inbound message is deduped by its provider
        id, a purchase by its receipt). After ATTEMPTS runs the last error is raised."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with self.transaction() as session:
                    return work(session)
            except DBAPIError as error:
                if attempt == ATTEMPTS or not retryable(error):
                    raise
                log.warning("database: %s; running the transaction again (attempt %d of %d)",
                            type(getattr(error, "orig", error)).__name__, attempt + 1, ATTEMPTS)
                # Apart at random, so the two that collided do not collide again.
                time.sleep(random.uniform(0, 0.02 * attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def ensure_schema(self) -> None:
        """An embedded SQLite database is migrated on first use; a shared server database
        is migrated by the operator (``loyalty db upgrade``) and only checked here."""
        if self._ready:
            return
        if self.engine.dialect.name == "sqlite":
            if not database.is_current(self.engine):
                database.upgrade(self.engine)
        elif not database.is_current(self.engine):
            raise SetupError(
                "the database schema is not up to date: run `loyalty db upgrade` first"
                if inspect(self.engine).has_table("alembic_version")
                else "the database is empty: run `loyalty db upgrade` first"
            )
        self._ready = True

    def receive(self, message: IncomingMessage, via: Callable[..., Received] = receive) -> Received:
        """One incoming chat message, handled and its replies queued in one transaction
        (run again when it lost a race: ``run``); the senders are woken once it has
        committed. ``via`` is ``web.inbox.receive`` or a channel's own front to it
        (Twilio's carrier keywords), with the same arguments."""
        return self.run(lambda session: via(session, message, self.clock(), self.enabled_channels, self.bot_settings()))

    def bot_settings(self) -> BotSettings:
        """Invite links name only the channels that are on."""
        on = set(self.enabled_channels)
        s = self.settings

        def number(value: str | None) -> str | None:
            return value.removeprefix("whatsapp:") if value else None

        return BotSettings(
            telegram_bot_username=(self.telegram_username or s.telegram_bot_username) if "telegram" in on else None,
            whatsapp_number=number(s.twilio_whatsapp_from) if "whatsapp" in on else None,
            sms_number=number(s.twilio_sms_from) if "sms" in on else None,
            channels=self.enabled_channels,
        )

    def program_id(self) -> int:
        """The id of the program this process serves, looked up once (a webhook pays no
        query for it). SetupError while none is loaded (a webhook answers 503: retried)."""
        if self._program_id is None:
            with self.transaction() as session:
                try:
                    program, _ = self.program(session)
                except NotFound as error:
                    raise SetupError(str(error)) from None
                self._program_id = program.id
        return self._program_id

    def phone_region(self) -> str | None:
        """Where the program reads a phone number typed without +country (its
        ``phone_region``), looked up once like ``program_id``."""
        if self._phone_region is None:
            with self.transaction() as session:
                try:
                    _, config = self.program(session)
                except NotFound as error:
                    raise SetupError(str(error)) from None
                self._phone_region = (config.phone_region,)
        return self._phone_region[0]

    def program(self, session: Session) -> tuple[Program, ProgramConfig]:
        """The program this process serves; LOYALTY_PROGRAM_FILE is (re)loaded on first use."""
        if self.settings.program_file and not self._program_loaded:
            self._program_loaded = True
            config = load_program_file(self.settings.program_file)
            sync_program(session, config, self.clock())
            self.program_slug = self.program_slug or config.slug
        program = get_program(session, self.program_slug)
        return program, config_of(program)

    def load_program_file(self, path: str) -> Program:
        config = load_program_file(path)
        with self.transaction() as session:
            program = sync_program(session, config, self.clock())
        self.program_slug = self.program_slug or config.slug
        return program


def runtime() -> Runtime:
    return current_app.extensions["loyalty"]  # type: ignore[no-any-return]


def wake_on_commit(sessions: sessionmaker[Session], wake_here: Callable[[], None]) -> None:
    """Make every transaction of ``sessions`` that queued outbox rows (rewards/outbox.py
    marks it) call ``wake_here()`` (senders in this process) once it has committed."""

    @event.listens_for(sessions, "after_commit")
    def _after_commit(session: Session) -> None:
        if session.info.pop(outbox.QUEUED, False):
            wake_here()

    @event.listens_for(sessions, "after_rollback")
    def _after_rollback(session: Session) -> None:
        session.info.pop(outbox.QUEUED, None)  # nothing was queued after all
