"""The console's member list at a busy shop's size: 100,000 members, on SQLite and PostgreSQL.

    python bench/members.py [--members N] [--database-url URL]

Searches by phone (as dialled and with +country), by member code and by the start of a
name, each sort's first page and a page deep in the list, the list's count of what a search
finds, and the CSV export's walk through everyone, timed through ``rewards/member_search.py``
as the pages call it (medians of a few runs, in a session of its own each). The members are
written with bulk Core INSERTs and the table analysed. A search should cost the same at 100,000 members as at 1,000: it is an index
look-up (migration 0022). Nothing here asserts.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.databases import scratch_database  # noqa: E402
from rewards import member_search  # noqa: E402
from rewards.member_search import Search  # noqa: E402
from rewards.models import Base, Member  # noqa: E402
from rewards.program.config import DEMO_PROGRAM_PATH, load_program_file  # noqa: E402
from rewards.program.programs import sync_program  # noqa: E402
from rewards.storage.db import make_engine, session_factory  # noqa: E402

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
NAMES = ("Ana", "Ben", "Chloe", "Diego", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas")
CHUNK = 10_000


def build(session: Session, members: int) -> int:
    program = sync_program(session, load_program_file(DEMO_PROGRAM_PATH), NOW)
    for start in range(0, members, CHUNK):
        session.execute(insert(Member), [
            {"program_id": program.id, "code": f"B{n:07d}", "phone": f"+1555{n:07d}",
             "name": f"{NAMES[n % len(NAMES)]} {n}", "language": "en", "marketing_consent": True,
             "joined_at": NOW - timedelta(minutes=n), "last_activity_at": NOW - timedelta(seconds=(n * 7919) % 8_640_000),
             "balance": (n * 7919) % 5000}
            for n in range(start, min(start + CHUNK, members))
        ])
    session.commit()
    session.execute(text("ANALYZE members"))
    session.commit()
    return program.id


def timed(sessions: Any, work: Callable[[Session], int], runs: int = 7) -> tuple[float, int]:
    """Median milliseconds of ``work`` in a session of its own, and how many rows it gave."""
    times, rows = [], 0
    for _ in range(runs):
        with sessions() as session:
            started = time.perf_counter()
            rows = work(session)
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), rows


def measure(url: str, members: int) -> None:
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    sessions = session_factory(engine)
    with sessions() as session:
        started = time.perf_counter()
        program_id = build(session, members)
        print(f"  {members:,} members written in {time.perf_counter() - started:.1f} s")
    middle = members // 2
    cases: list[tuple[str, Callable[[Session], int]]] = [
        ("phone as dialled",
         lambda s: len(member_search.page(s, program_id, Search(f"555{middle:07d}", region="US"), 51))),
        ("phone with +country", lambda s: len(member_search.page(s, program_id, Search(f"+1555{middle:07d}"), 51))),
        ("member code", lambda s: len(member_search.page(s, program_id, Search(f"b{middle:07d}"), 51))),
        ("name, its start (a few rows)", lambda s: len(member_search.page(s, program_id, Search(f"ben {middle - middle % 10 + 1}"), 51))),
        ("name, common start ('Ben', page 1)", lambda s: len(member_search.page(s, program_id, Search("Ben"), 51))),
    ]
    for sort in member_search.SORTS:
        cases.append((f"sorted by {sort}, page 1", lambda s, sort=sort: len(member_search.page(s, program_id, Search(sort=sort), 51))))
    cases.append(("sorted by balance, page 1,000 (offset 49,950)",
                  lambda s: len(member_search.page(s, program_id, Search(sort="balance"), 51, 49_950))))
    # The list's "1,234 members": the search's look-ups counted; with no search, everyone.
    cases.append(("count, phone", lambda s: member_search.count(s, program_id, Search(f"+1555{middle:07d}"))))
    cases.append(("count, name's common start ('Ben')", lambda s: member_search.count(s, program_id, Search("Ben"))))
    cases.append(("count, no search (everyone)", lambda s: member_search.count(s, program_id, Search())))
    for label, work in cases:
        ms, rows = timed(sessions, work)
        print(f"  {label:<48} {ms:8.2f} ms  ({rows} rows)")

    def walk(session: Session) -> int:
        search, cursor, total = Search(sort="balance"), None, 0
        while True:
            rows = member_search.after(session, program_id, search, cursor, 1000)
            total += len(rows)
            if len(rows) < 1000:
                return total
            cursor = (rows[-1].balance, rows[-1].id)

    ms, rows = timed(sessions, walk, runs=3)
    print(f"  {'CSV walk, everyone by balance, 1,000 a chunk':<48} {ms:8.0f} ms  ({rows:,} rows)")
    engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--database-url", help="a PostgreSQL database to make a scratch schema in (default: SQLite)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir, scratch_database(args.database_url, Path(workdir), "members") as url:
        print(f"{'PostgreSQL' if args.database_url else 'SQLite'}:")
        measure(url, args.members)


if __name__ == "__main__":
    main()
