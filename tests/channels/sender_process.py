"""A sender or a claimer in a process of its own, for the tests that kill one or run several.

    python sender_process.py URL SCHEMA OUT MODE [--delay S] [--lease S] [--batch N] [--go FILE]

``SCHEMA`` is the PostgreSQL schema the test made ("-" for SQLite). MODE ``send`` runs a
Sender whose adapter appends each message's text to OUT (slowly, ``--delay`` a message) and
exits when nothing is left queued or in flight; MODE ``claim`` only claims (and marks sent),
appending each claimed row id to OUT, and exits when a claim comes back empty. With ``--go``
the process writes OUT.ready and waits for FILE to exist before it starts, so several start
together.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from channels.sender import Sender  # noqa: E402
from rewards import outbox  # noqa: E402
from rewards.models import OutboxMessage  # noqa: E402
from rewards.storage.db import make_engine, session_factory  # noqa: E402


class FileAdapter:
    """Sends by appending the text to a file in one write (a line survives SIGKILL whole)."""

    def __init__(self, path: str, delay: float) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.delay = delay

    def send(self, address: str, reply) -> str:  # type: ignore[no-untyped-def]
        time.sleep(self.delay)
        os.write(self.fd, f"{reply.text}\n".encode())
        return f"file-{reply.text}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("schema")
    parser.add_argument("out")
    parser.add_argument("mode", choices=["send", "claim"])
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--lease", type=float, default=60.0)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--go")
    args = parser.parse_args()

    kwargs = {} if args.schema == "-" else {"connect_args": {"options": f"-csearch_path={args.schema}"}}
    sessions = session_factory(make_engine(args.url, **kwargs))
    if args.go:
        Path(args.out + ".ready").touch()
        while not Path(args.go).exists():
            time.sleep(0.005)
    worker = f"proc-{os.getpid()}"

    if args.mode == "claim":
        fd = os.open(args.out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        while True:
            with sessions.begin() as session:
                ids = [row.id for row in outbox.claim(session, worker, datetime.now(UTC), args.batch, args.lease)]
            if not ids:
                return
            os.write(fd, "".join(f"{i}\n" for i in ids).encode())
            for i in ids:
                with sessions.begin() as session:
                    assert outbox.mark_sent(session, i, worker, f"p{i}", datetime.now(UTC))
            time.sleep(args.delay)

    sender = Sender(sessions, {"fake": FileAdapter(args.out, args.delay)}, worker_id=worker,
                    batch_size=args.batch, lease_seconds=args.lease)
    while True:
        if sender.run_once():
            continue
        with sessions() as session:
            left = session.scalar(select(func.count()).where(OutboxMessage.status.in_(["queued", "sending"])))
        if not left:
            return
        time.sleep(0.05)


if __name__ == "__main__":
    main()
