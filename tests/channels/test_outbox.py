"""The outbox (rewards/outbox.py): dedupe keys, priority, exclusive claims with a lease, on
SQLite and on PostgreSQL, across threads and across processes."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from support import POSTGRES_URL, T0

from bot.messages import Button, Image, Reply
from bot.outbox_payload import from_payload, to_payload
from rewards import outbox
from rewards.models import OutboxMessage, Program

both_databases = pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
SCRIPT = Path(__file__).with_name("sender_process.py")


def queue(session: Session, program: Program, n: int, kind: str = "campaign", channel: str = "fake",
          now: datetime = T0) -> None:
    """``n`` rows queued at ``now`` (a sender on the real clock wants them queued on it too:
    rows queued at T0 are long past their staleness)."""
    outbox.enqueue_many(session, (
        dict(program_id=program.id, channel=channel, address=f"chat-{i}", payload={"text": str(i)}, kind=kind)
        for i in range(n)
    ), now)


def statuses(session: Session) -> Counter[str]:
    return Counter(session.scalars(select(OutboxMessage.status)).all())


def test_a_reply_survives_the_trip_through_json() -> None:
    reply = Reply("Rewards:", (Button("Coffee", "redeem coffee"),), Image("qr", "K7QM", "card.png"), "notice", "Reply 1")
    payload = to_payload(reply)
    assert payload == {"text": "Rewards:", "buttons": [["Coffee", "redeem coffee"]],
                       "image": {"kind": "qr", "data": "K7QM", "filename": "card.png"}, "hint": "Reply 1"}
    assert from_payload(payload, "notice") == reply
    assert from_payload(to_payload(Reply("Hi"))) == Reply("Hi")
    assert from_payload({"text": "Sale!"}, "campaign").kind == "notice"


@both_databases
def test_the_same_dedupe_key_makes_one_row(session: Session, program: Program) -> None:
    first = outbox.enqueue(session, program.id, "fake", "a", {"text": "hi"}, "campaign", T0, dedupe_key="c1:m1")
    assert first is not None
    row = session.get_one(OutboxMessage, first)
    assert (row.status, row.priority, row.dedupe_key) == ("queued", 2, "c1:m1")
    assert outbox.enqueue(session, program.id, "fake", "a", {"text": "hi"}, "campaign", T0, dedupe_key="c1:m1") is None
    # Keyless rows never collide; bulk rows skip keys already there, and repeats among themselves.
    assert outbox.enqueue(session, program.id, "fake", "a", {"text": "x"}, "reply", T0) is not None
    assert outbox.enqueue(session, program.id, "fake", "a", {"text": "x"}, "reply", T0) is not None
    rows = [dict(program_id=program.id, channel="fake", address=f"m{i % 3}", payload={}, kind="campaign",
                 dedupe_key=f"c1:m{i % 3}") for i in range(9)]
    assert outbox.enqueue_many(session, rows, T0) == 2
    assert outbox.enqueue_many(session, rows, T0) == 0
    session.commit()
    assert outbox.counts(session, program.id) == {"queued": 5, "sending": 0, "sent": 0, "failed": 0, "skipped": 0}


@both_databases
def test_concurrent_writers_of_one_key_make_one_row(sessions: sessionmaker[Session], program: Program) -> None:
    barrier = threading.Barrier(10, timeout=30)
    results: list[Any] = []

    def write() -> None:
        try:
            barrier.wait()
            with sessions.begin() as s:
                results.append(outbox.enqueue(s, program.id, "fake", "a", {"text": "hi"}, "reply", T0, dedupe_key="in:42"))
        except Exception as error:  # noqa: BLE001 - judged below
            results.append(error)

    threads = [threading.Thread(target=write) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not [r for r in results if isinstance(r, Exception)]
    assert sum(r is not None for r in results) == 1
    with sessions() as s:
        assert statuses(s) == {"queued": 1}


@both_databases
def test_the_database_refuses_an_unknown_status(session: Session, program: Program) -> None:
    queued = outbox.enqueue(session, program.id, "fake", "a", {}, "reply", T0)
    session.commit()
    with pytest.raises(IntegrityError):
        session.execute(update(OutboxMessage).where(OutboxMessage.id == queued).values(status="lost"))
        session.flush()
    session.rollback()
    with pytest.raises(ValueError):
        outbox.enqueue(session, program.id, "fake", "a", {}, "spam", T0)


@both_databases
def test_replies_are_claimed_before_notices_before_campaigns(session: Session, program: Program) -> None:
    queue(session, program, 5, "campaign")
    queue(session, program, 2, "notice")
    queue(session, program, 2, "reply")
    outbox.enqueue(session, program.id, "fake", "later", {}, "reply", T0, available_at=T0 + timedelta(minutes=5))
    session.commit()
    claimed = outbox.claim(session, "w1", T0, 4, 600)
    session.commit()
    assert [row.kind for row in claimed] == ["reply", "reply", "notice", "notice"]
    assert all(row.status == "sending" and row.claimed_by == "w1" for row in claimed)
    assert all(row.claimed_until == T0 + timedelta(seconds=600) for row in claimed)
    rest = outbox.claim(session, "w2", T0, 100, 600)
    assert [row.kind for row in rest] == ["campaign"] * 5  # the delayed reply is not due yet
    assert [row.address for row in outbox.claim(session, "w2", T0 + timedelta(minutes=5), 100, 600)] == ["later"]
    session.commit()


@both_databases
def test_only_the_channels_asked_for_are_claimed(session: Session, program: Program) -> None:
    queue(session, program, 3, channel="telegram")
    queue(session, program, 3, channel="sms")
    session.commit()
    assert {row.channel for row in outbox.claim(session, "w", T0, 10, 60, channels=["sms"])} == {"sms"}
    assert outbox.claim(session, "w", T0, 10, 60, channels=[]) == []
    session.commit()


@both_databases
def test_an_expired_lease_makes_a_row_claimable_again(session: Session, program: Program) -> None:
    queue(session, program, 3)
    session.commit()
    first = outbox.claim(session, "dead", T0, 10, 30)
    session.commit()
    assert len(first) == 3
    assert outbox.claim(session, "w2", T0 + timedelta(seconds=30), 10, 30) == []  # lease still holds
    session.commit()
    again = outbox.claim(session, "w2", T0 + timedelta(seconds=31), 10, 30)
    session.commit()
    assert sorted(row.id for row in again) == sorted(row.id for row in first)
    # The dead worker's late result no longer counts; the new holder's does.
    assert not outbox.mark_sent(session, first[0].id, "dead", "p-old", T0)
    assert outbox.mark_sent(session, first[0].id, "w2", "p-new", T0 + timedelta(seconds=32))
    session.commit()
    row = session.get(OutboxMessage, first[0].id, populate_existing=True)
    assert (row.status, row.provider_message_id, row.claimed_until) == ("sent", "p-new", None)


@both_databases
def test_failures_retry_later_or_stop(session: Session, program: Program) -> None:
    queue(session, program, 3)
    session.commit()
    a, b, c = outbox.claim(session, "w", T0, 10, 60)
    assert outbox.mark_failed(session, a.id, "w", "timeout", T0, retry_at=T0 + timedelta(seconds=10))
    assert outbox.mark_failed(session, b.id, "w", "blocked by user", T0)
    assert outbox.mark_skipped(session, c.id, "w", "outside the 24-hour window", T0)
    session.commit()
    rows = {row.id: row for row in session.scalars(select(OutboxMessage).execution_options(populate_existing=True))}
    assert (rows[a.id].status, rows[a.id].attempts, rows[a.id].available_at, rows[a.id].error) == (
        "queued", 1, T0 + timedelta(seconds=10), "timeout")
    assert (rows[b.id].status, rows[b.id].attempts, rows[b.id].error) == ("failed", 1, "blocked by user")
    assert (rows[c.id].status, rows[c.id].error) == ("skipped", "outside the 24-hour window")
    assert outbox.claim(session, "w", T0 + timedelta(seconds=9), 10, 60) == []
    assert [row.id for row in outbox.claim(session, "w", T0 + timedelta(seconds=10), 10, 60)] == [a.id]
    session.commit()
    assert outbox.counts(session, program.id) == {"queued": 0, "sending": 1, "sent": 0, "failed": 1, "skipped": 1}


ROWS = 1000
WORKERS = 3


@both_databases
def test_threads_claiming_together_take_every_row_once(sessions: sessionmaker[Session], program: Program) -> None:
    with sessions.begin() as s:
        queue(s, program, ROWS)
    barrier = threading.Barrier(WORKERS, timeout=30)
    claimed: list[list[int]] = [[] for _ in range(WORKERS)]
    errors: list[Exception] = []

    def work(w: int) -> None:
        try:
            barrier.wait()
            while True:
                with sessions.begin() as s:
                    ids = [row.id for row in outbox.claim(s, f"w{w}", T0, 10, 60)]
                if not ids:
                    return
                claimed[w].extend(ids)
        except Exception as error:  # noqa: BLE001 - judged below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    every = [i for ids in claimed for i in ids]
    assert len(every) == len(set(every)) == ROWS
    with sessions() as s:
        assert statuses(s) == {"sending": ROWS}
        holders = Counter(s.scalars(select(OutboxMessage.claimed_by)).all())
    assert holders == {f"w{w}": len(claimed[w]) for w in range(WORKERS) if claimed[w]}


def database_args(engine: Engine) -> list[str]:
    """The URL and schema a child process needs to see this test's database."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            return [POSTGRES_URL, conn.execute(text("SELECT current_schema()")).scalar()]  # type: ignore[list-item]
    return [f"sqlite:///{engine.url.database}", "-"]


def start_together(commands: list[list[str]], outs: list[Path], go: Path) -> list[subprocess.Popen[bytes]]:
    procs = [subprocess.Popen([*command, "--go", str(go)]) for command in commands]
    deadline = time.monotonic() + 30
    while not all(Path(f"{out}.ready").exists() for out in outs):
        assert time.monotonic() < deadline, "a child process did not start"
        assert all(proc.poll() is None for proc in procs), "a child process died on start"
        time.sleep(0.01)
    go.touch()
    return procs


@both_databases
def test_processes_claiming_together_take_every_row_once(
    engine: Engine, sessions: sessionmaker[Session], program: Program, tmp_path: Path,
) -> None:
    with sessions.begin() as s:
        queue(s, program, ROWS)
    outs = [tmp_path / f"claimed-{w}.txt" for w in range(WORKERS)]
    commands = [[sys.executable, str(SCRIPT), *database_args(engine), str(out), "claim", "--delay", "0.002"] for out in outs]
    procs = start_together(commands, outs, tmp_path / "go")
    for proc in procs:
        assert proc.wait(60) == 0
    per_worker = [[int(line) for line in out.read_text().split()] if out.exists() else [] for out in outs]
    every = [i for ids in per_worker for i in ids]
    assert len(every) == len(set(every)) == ROWS
    assert sum(1 for ids in per_worker if ids) >= 2, "the workers did not overlap; the test proved nothing"
    with sessions() as s:
        assert statuses(s) == {"sent": ROWS}
