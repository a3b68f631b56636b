"""Two clocks by mistake, running every job at the same moment: each point moves once and
each message is queued once, on SQLite and on PostgreSQL; on PostgreSQL only one of them
holds the program's lock."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from support import T0, drop_postgres_schema, postgres_engine

from rewards.models import Base, LedgerEntry, OutboxMessage, Survey
from scheduler import jobs
from scheduler.clock import AdvisoryLock


@pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
def test_two_clocks_at_once_do_everything_once(world) -> None:  # type: ignore[no-untyped-def]
    world.configure(expiry={"after_days": 30, "remind_days_before": 10}, automations={"win_back_days": 10,
                    "survey_after_hours": 2}, tier_rules={"window_days": 20})
    now = datetime(2026, 4, 5, 13, 0, tzinfo=UTC)
    people = [world.join(T0, birthday=date(1990, 4, 5)) for _ in range(6)]
    for n, member in enumerate(people):
        # Silver until the tier window (20 days) passes it, between the two purchases and now
        world.purchase(member, "150.00", f"R-{n}", now - timedelta(days=20, hours=1))
        world.purchase(member, "2.00", f"S-{n}", now - timedelta(hours=3))  # the survey's purchase
    everything = (*jobs.DAILY, jobs.run_surveys)
    start, errors = threading.Barrier(2), []

    def clock(offset: int) -> None:
        try:
            start.wait()
            for job in everything:  # a second apart: different expiry cut-offs, the same points
                job(world.sessions, world.program_id, now + timedelta(seconds=offset), ("terminal",), chunk=2)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=clock, args=(offset,)) for offset in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors

    with world.sessions() as session:
        kinds = Counter(session.scalars(select(LedgerEntry.kind)))
        per_member = Counter(session.scalars(select(OutboxMessage.member_id).where(OutboxMessage.dedupe_key.is_not(None))))
        surveys = session.scalar(select(func.count()).select_from(Survey))
    assert (kinds["expire"], kinds["birthday"]) == (6, 6)
    assert surveys == 6
    # expired, reminder, tier down, birthday, survey question (the purchase 3 h ago ended the inactivity)
    prefixes = Counter(key.split(":")[0] for key, _ in world.messages())
    assert set(per_member.values()) == {5}, prefixes
    assert prefixes == {"expired": 6, "expiry-reminder": 6, "tier": 6, "birthday": 6, "survey": 6}


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_one_clock_per_program_holds_the_lock_and_a_standby_takes_over(engine: Engine) -> None:
    """PostgreSQL's advisory lock: a second clock for the program idles while the first
    lives and takes over once it is gone; a deployment in another schema of the same
    database, whose program has the same id, has a lock of its own."""
    first, second, other_program = AdvisoryLock(engine, 1), AdvisoryLock(engine, 1), AdvisoryLock(engine, 2)
    other_engine, other_schema = postgres_engine()
    Base.metadata.create_all(other_engine)
    elsewhere = AdvisoryLock(other_engine, 1)
    try:
        assert first.held() and first.held()  # held, and still held on the next turn
        assert not second.held()
        assert elsewhere.held()
        assert other_program.held()  # another program of this deployment
        first.release()
        assert second.held()
    finally:
        for lock in (first, second, other_program, elsewhere):
            lock.release()
        other_engine.dispose()
        drop_postgres_schema(other_schema)


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_the_clocks_own_jobs_asking_for_its_lock_at_once_all_find_it_held(engine: Engine) -> None:
    """At start the catch-up jobs (daily, campaigns) run at once on the scheduler's threads:
    each must find this clock's lock held, not take a second connection, find the lock taken
    by the first and skip its turn as if another clock held it."""
    for _ in range(5):
        lock = AdvisoryLock(engine, 1)
        try:
            assert asked_at_once(lock, 6) == [True] * 6
        finally:
            lock.release()


def asked_at_once(lock: AdvisoryLock, threads: int) -> list[bool]:
    """``lock.held()`` from ``threads`` threads released together."""
    start = threading.Barrier(threads)
    found: list[bool] = []

    def ask() -> None:
        start.wait(5)
        found.append(lock.held())

    running = [threading.Thread(target=ask) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(10)
    return found
