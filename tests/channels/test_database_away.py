"""The database goes away while the sender runs (``loyalty worker``, ``loyalty serve``): it
says so in one line when it starts failing and in one when it works again, never a
traceback per attempt, and goes on: what was queued is sent once the database is back.
(The clock: tests/scheduler/test_clock_database_away.py.)"""
from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from datetime import timedelta

import pytest
from fakes.outputs import CollectingOutput
from sqlalchemy.orm import Session, sessionmaker
from support import T0, Unplugged, said
from test_sender import FakeClock, make_sender, queue, rows

from rewards.models import Program


def test_the_sender_says_once_that_the_database_is_away_and_once_that_it_is_back(
    sessions: sessionmaker[Session], program: Program, caplog: pytest.LogCaptureFixture,
) -> None:
    database = Unplugged(sessions)
    output = CollectingOutput()
    clock = FakeClock()
    sender = make_sender(database, {"fake": output}, clock)  # type: ignore[arg-type]
    database.away = True
    with caplog.at_level(logging.WARNING):
        for _ in range(50):
            assert sender.attempt() == 0
            clock.sleep(1)
        database.away = False
        with sessions.begin() as s:
            reply = queue(s, program, "reply", "Your balance: 10", now=T0 + timedelta(seconds=50))
        assert sender.attempt() == 1
        assert sender.attempt() == 0  # nothing more to say: it works
    assert output.texts() == ["Your balance: 10"] and rows(sessions)[reply].status == "sent"
    assert said(caplog) == [
        "outbox sender test could not claim or record a batch: the database is unavailable (OperationalError: unable to"
        " open database file); trying again every 1 s, quietly until it works",
        "outbox sender test works again after 50 s (50 failed attempts)",
    ]


def test_a_bug_is_shown_with_its_traceback_once_not_at_every_attempt(
    sessions: sessionmaker[Session], program: Program, caplog: pytest.LogCaptureFixture,
) -> None:
    """Not the database: something to fix. Its traceback is worth seeing, once."""

    class Broken:
        def begin(self) -> AbstractContextManager[Session]:
            raise RuntimeError("a bug")

    sender = make_sender(Broken(), {"fake": CollectingOutput()})  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            assert sender.attempt() == 0
    [record] = caplog.records
    assert record.exc_info is not None and "could not claim or record a batch (RuntimeError: a bug)" in record.getMessage()
