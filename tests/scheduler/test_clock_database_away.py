"""The database goes away while the clock runs (``loyalty clock``, ``loyalty serve``): one
line when its jobs start failing, one when they work again, not a traceback a minute."""
from __future__ import annotations

import logging

import pytest
from support import T0, Unplugged, said

from scheduler.clock import Clock


def test_the_clock_says_once_that_the_database_is_away_and_once_that_it_is_back(
    world, caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    database = Unplugged(world.sessions)
    lines: list[str] = []
    clock = Clock(database, world.program_id, world.config.timezone, (9, 0), ["terminal"],  # type: ignore[arg-type]
                  clock=lambda: T0, report=lines.append)
    database.away = True
    with caplog.at_level(logging.WARNING):
        for _ in range(10):  # ten minutes of campaigns and privacy runs
            assert clock.run("campaigns") == [] and clock.run("privacy") == []
        database.away = False
        assert clock.run("campaigns") and clock.run("privacy")
    messages = said(caplog)
    assert len(messages) == 2, messages
    assert messages[0].startswith("the clock could not run campaigns (") and "the database is unavailable" in messages[0]
    assert messages[0].endswith("each job tries again at its next run, quietly until it works")
    assert messages[1].startswith("the clock works again after") and messages[1].endswith("(20 failed attempts)")
    assert not any("failed (see the log)" in line for line in lines)
