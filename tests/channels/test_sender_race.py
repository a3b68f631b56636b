"""Three real sender processes racing over one outbox (as several gunicorn workers and
`loyalty worker` processes would): every row is sent, none twice, on SQLite and PostgreSQL."""
from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from test_outbox import ROWS, SCRIPT, WORKERS, database_args, queue, start_together

from rewards.models import OutboxMessage, Program

both_databases = pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)


@both_databases
def test_three_sender_processes_send_every_row_once(
    engine: Engine, sessions: sessionmaker[Session], program: Program, tmp_path: Path,
) -> None:
    with sessions.begin() as s:
        queue(s, program, ROWS, now=datetime.now(UTC))  # the senders run on the real clock
    outs = [tmp_path / f"sent-{w}.txt" for w in range(WORKERS)]
    commands = [
        [sys.executable, str(SCRIPT), *database_args(engine), str(out), "send", "--batch", "10", "--delay", "0.0005"]
        for out in outs
    ]
    procs = start_together(commands, outs, tmp_path / "go")
    for proc in procs:
        assert proc.wait(90) == 0
    per_sender = [Counter(int(line) for line in out.read_text().split()) if out.exists() else Counter() for out in outs]
    every = sum(per_sender, Counter())
    assert set(every) == set(range(ROWS)), "a row was never sent"
    assert max(every.values()) == 1, f"sent twice: {[i for i, n in every.items() if n > 1][:10]}"
    print("rows sent by each sender:", [sum(sent.values()) for sent in per_sender])
    assert sum(1 for sent in per_sender if sent) >= 2, "the senders did not overlap; the test proved nothing"
    with sessions() as s:
        rows = s.execute(select(OutboxMessage.status, OutboxMessage.claimed_by, OutboxMessage.provider_message_id)).all()
    assert Counter(status for status, _, _ in rows) == {"sent": ROWS}
    assert all(provider_id for _, _, provider_id in rows)
