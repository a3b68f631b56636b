"""Ledger benchmark: balance + tier lookups at 1 thousand and 1 million ledger entries,
and earn transactions per second.

    python bench/ledger.py [--database-url URL] [--quick]

Balance and tier lookups should cost the same at 1 million ledger entries as at 1
thousand (bench/README.md); the goal printed beside the ratio is 1.2. Nothing here asserts:
it measures and prints.

A "lookup" is what the chat does for "balance": load the member row (cached balance, tier
joined), ``tiers.progress`` and ``ledger.spendable``, in a session of its own, as one chat
turn. Beside the end-to-end time it prints the time spent inside the database driver,
because Python/ORM work is most of a lookup and hides how the queries themselves scale.
The data is written with bulk Core INSERTs (not ``ledger.post``): members with about
ten entries each over the last year (join bonus, purchases with their purchase rows,
occasional redemptions, refunds and birthday bonuses), rows in time order as a live ledger
would hold them, cached balances equal to ledger sums; ``ledger.audit`` checks it.
Redemption entries carry no code row (``code_id`` is NULL); nothing read here needs one.

By default each size gets a SQLite file in a temporary directory, opened with
``rewards.storage.db.make_engine`` exactly as the app does. With ``--database-url`` a PostgreSQL
database is used instead: tables go into fresh schemas that are dropped afterwards.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, event, insert, select, text  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from rewards import earning, ledger, members, tiers  # noqa: E402
from rewards.codes import ALPHABET, MEMBER_LENGTH  # noqa: E402
from rewards.models import Base, LedgerEntry, Member, Purchase, Tier  # noqa: E402
from rewards.program.config import DEMO_PROGRAM_PATH, ProgramConfig, load_program_file  # noqa: E402
from rewards.program.programs import config_of, get_program, sync_program  # noqa: E402
from rewards.storage.db import make_engine, normalize_url, session_factory  # noqa: E402

GOAL_RATIO = 1.2
SMALL = 1_000
LARGE = 1_000_000
QUICK_LARGE = 100_000
DAY = 86_400.0
INSERT_CHUNK = 10_000  # rows per executemany
COMMIT_EVERY = 200_000  # rows per transaction


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- data -----------------------------------------------------------------------------


@dataclass
class Dataset:
    """One database's rows, compact until they are inserted."""

    members: list[tuple[Any, ...]] = field(default_factory=list)
    # purchase: [created_ts, member_id, amount_minor, points, refunded_ts, id]
    purchases: list[list[Any]] = field(default_factory=list)
    # entry: (created_ts, member_id, kind, amount, key, reason, lot_ts, purchase or None)
    entries: list[tuple[Any, ...]] = field(default_factory=list)


def member_code(member_id: int) -> str:
    """A unique, random-looking 8-character code: an odd multiplier is a bijection mod 32**8."""
    n = (member_id * 0x9E3779B1) % (32**MEMBER_LENGTH)
    digits = []
    for _ in range(MEMBER_LENGTH):
        n, d = divmod(n, 32)
        digits.append(ALPHABET[d])
    return "".join(digits)


def generate(n_entries: int, config: ProgramConfig, tier_rows: list[Tier], now: datetime, seed: int) -> Dataset:
    """Members with 5 to 15 entries each (about 10), all inside the last year."""
    rng = random.Random(seed)
    now_ts = now.timestamp()
    ppu = Fraction(str(config.earning.points_per_unit))
    join_bonus = config.earning.join_bonus or 50
    birthday_bonus = config.earning.birthday_bonus
    costs = sorted(r.cost for r in config.rewards) or [300]
    ladder = [(t.threshold, t.multiplier_permille, t.id) for t in sorted(tier_rows, key=lambda t: t.threshold)]

    counts: list[int] = []
    total = 0
    while total < n_entries:
        k = min(rng.randint(5, 15), n_entries - total)
        counts.append(k)
        total += k
    joins = sorted(now_ts - rng.uniform(DAY, 365 * DAY) for _ in counts)

    data = Dataset()
    code_seq = 0
    for index, (k, joined) in enumerate(zip(counts, joins, strict=True)):
        member_id = index + 1
        balance = join_bonus
        qualifying = 0
        tier = ladder[0]
        data.entries.append((joined, member_id, "join", join_bonus, f"join:{member_id}", "welcome bonus", joined, None))
        birthday_paid = False
        open_purchases: list[list[Any]] = []
        last = joined
        for ts in sorted(rng.uniform(joined, now_ts) for _ in range(k - 1)):
            last = ts
            roll = rng.random()
            affordable = [c for c in costs if c <= balance]
            if roll < 0.08 and affordable:
                cost = rng.choice(affordable)
                code_seq += 1
                balance -= cost
                data.entries.append((ts, member_id, "redeem", -cost, f"code:{code_seq}", "reward redeemed", ts, None))
            elif roll < 0.11 and open_purchases:
                p = open_purchases.pop(rng.randrange(len(open_purchases)))
                p[4] = ts
                balance -= p[3]
                qualifying -= p[3]
                data.entries.append((ts, member_id, "reversal", -p[3], None, None, p[0], p))
            elif roll < 0.13 and birthday_bonus and not birthday_paid:
                birthday_paid = True
                year = datetime.fromtimestamp(ts, UTC).year
                data.entries.append(
                    (ts, member_id, "birthday", birthday_bonus, f"birthday:{member_id}:{year}",
                     f"birthday bonus {year}", ts, None)
                )
                balance += birthday_bonus
            else:
                amount_minor = rng.randint(250, 2500)  # 2.50 to 25.00
                points = max(1, int(Fraction(amount_minor, 100) * ppu * tier[1] / 1000))  # rounding "down"
                p = [ts, member_id, amount_minor, points, None, 0]
                data.purchases.append(p)
                open_purchases.append(p)
                balance += points
                qualifying += points
                tier = [t for t in ladder if t[0] <= qualifying][-1] if qualifying >= 0 else ladder[0]
                data.entries.append((ts, member_id, "purchase", points, None, None, ts, p))
        final_tier = [t for t in ladder if t[0] <= qualifying][-1] if qualifying >= 0 else ladder[0]
        data.members.append((member_id, joined, last, balance, final_tier[2], rng.random()))

    # Ids and table order follow time, as in a ledger that grew day by day.
    data.purchases.sort(key=lambda p: p[0])
    for position, p in enumerate(data.purchases, 1):
        p[5] = position
    data.entries.sort(key=lambda e: e[0])
    return data


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def member_rows(data: Dataset, program_id: int) -> Iterator[dict[str, Any]]:
    for member_id, joined, last, balance, tier_id, r in data.members:
        yield {
            "id": member_id, "program_id": program_id, "code": member_code(member_id),
            "phone": f"+1555{member_id:07d}", "name": f"Member {member_id}",
            "language": "es" if r < 0.2 else "en",
            "birthday": date(1970 + member_id % 40, 1 + member_id % 12, 1 + member_id % 28) if r < 0.6 else None,
            "marketing_consent": r < 0.9, "joined_at": _utc(joined), "last_activity_at": _utc(last),
            "deleted_at": None, "balance": balance, "tier_id": tier_id,
        }


def purchase_rows(data: Dataset, program_id: int) -> Iterator[dict[str, Any]]:
    for created, member_id, amount_minor, points, refunded, pid in data.purchases:
        yield {
            "id": pid, "program_id": program_id, "member_id": member_id, "receipt_id": f"R{pid:09d}",
            "amount_minor": amount_minor, "points": points, "created_at": _utc(created),
            "refunded_at": _utc(refunded) if refunded is not None else None, "actor": "pos",
        }


def entry_rows(data: Dataset, program_id: int) -> Iterator[dict[str, Any]]:
    for created, member_id, kind, amount, key, reason, lot, p in data.entries:
        purchase_id = None
        if p is not None:
            purchase_id = p[5]
            receipt = f"R{purchase_id:09d}"
            if kind == "purchase":
                key, reason = f"purchase:{receipt}", f"purchase {receipt}"
            else:
                key, reason = f"refund:purchase:{receipt}", f"refund of receipt {receipt}"
        yield {
            "program_id": program_id, "member_id": member_id, "amount": amount, "kind": kind, "reason": reason,
            "idempotency_key": key, "created_at": _utc(created), "lot_at": _utc(lot), "available_at": None,
            "purchase_id": purchase_id, "code_id": None, "referral_id": None,
            "actor": "pos" if p is not None else None,
        }


# --- databases --------------------------------------------------------------------------


@dataclass
class Database:
    label: str
    url: str
    connect_args: dict[str, Any]
    schema: str | None = None  # PostgreSQL only
    path: Path | None = None  # SQLite only

    def engine(self, **kwargs: Any) -> Engine:
        if self.connect_args:
            kwargs["connect_args"] = self.connect_args
        return make_engine(self.url, **kwargs)


def make_database(label: str, base_url: str | None, tmpdir: Path) -> Database:
    if base_url is None:
        path = tmpdir / f"{label}.db"
        return Database(label, f"sqlite:///{path}", {}, path=path)
    schema = f"bench_ledger_{uuid.uuid4().hex[:10]}_{label}"
    admin = make_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return Database(label, base_url, {"options": f"-csearch_path={schema}"}, schema=schema)


def drop_database(db: Database, base_url: str | None) -> None:
    if db.schema and base_url:
        admin = make_engine(base_url)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{db.schema}" CASCADE'))
        admin.dispose()


def _bulk(engine: Engine, table: Any, rows: Iterator[dict[str, Any]], total: int, what: str, verbose: bool) -> None:
    started = time.perf_counter()
    done = 0
    step = max(COMMIT_EVERY // 2, total // 10)
    next_report = step
    conn = engine.connect()
    trans = conn.begin()
    try:
        chunk: list[dict[str, Any]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == INSERT_CHUNK:
                conn.execute(insert(table), chunk)
                done += len(chunk)
                chunk = []
                if done % COMMIT_EVERY == 0:
                    trans.commit()
                    trans = conn.begin()
                if verbose and done >= next_report:
                    elapsed = time.perf_counter() - started
                    log(f"  {what}: {done:,} of {total:,} ({100 * done // total}%), {elapsed:.1f}s, "
                        f"{done / elapsed:,.0f} rows/s")
                    next_report += step
        if chunk:
            conn.execute(insert(table), chunk)
            done += len(chunk)
        trans.commit()
    finally:
        conn.close()
    if verbose:
        log(f"  {what}: {done:,} rows in {time.perf_counter() - started:.1f}s")


@dataclass
class Built:
    db: Database
    entries: int
    members: int
    purchases: int
    program_slug: str
    build_seconds: float
    audit_ok: bool
    size_mb: float | None


def build(db: Database, n_entries: int, config: ProgramConfig, now: datetime, seed: int) -> Built:
    verbose = n_entries >= 100_000
    started = time.perf_counter()
    log(f"building {n_entries:,} ledger entries ({db.label})...")
    engine = db.engine()
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _bigger_cache(dbapi_connection: Any, _record: Any) -> None:
            # Loading only: the measuring engine below keeps the app's settings.
            dbapi_connection.execute("PRAGMA cache_size=-262144")

    Base.metadata.create_all(engine)
    with session_factory(engine).begin() as session:
        program = sync_program(session, config, now)
        program_id = program.id
        tier_rows = list(session.scalars(select(Tier).where(Tier.program_id == program_id)))
        session.expunge_all()

    data = generate(n_entries, config, tier_rows, now, seed)
    if verbose:
        log(f"  generated {len(data.members):,} members, {len(data.purchases):,} purchases, "
            f"{len(data.entries):,} entries in {time.perf_counter() - started:.1f}s")
    _bulk(engine, Member.__table__, member_rows(data, program_id), len(data.members), "members", verbose)
    _bulk(engine, Purchase.__table__, purchase_rows(data, program_id), len(data.purchases), "purchases", verbose)
    _bulk(engine, LedgerEntry.__table__, entry_rows(data, program_id), len(data.entries), "ledger entries", verbose)

    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # Explicit ids above: move the sequences on so the ORM's inserts do not collide.
            for table in ("members", "purchases"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
            conn.commit()
            conn.execute(text("ANALYZE"))  # autovacuum would soon; a live database has statistics
            conn.commit()
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()  # outside any transaction: a checkpoint cannot run in one
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
        finally:
            raw.close()
    with Session(engine) as session:
        report = ledger.audit(session, program_id)
    engine.dispose()
    size = db.path.stat().st_size / 1e6 if db.path else None
    seconds = time.perf_counter() - started
    log(f"  built {db.label} in {seconds:.1f}s; {report.lines()[-1]}")
    return Built(db, len(data.entries), len(data.members), len(data.purchases), config.slug, seconds, report.ok, size)


# --- measuring --------------------------------------------------------------------------


PHASES = ("member", "progress", "spendable", "close")


@dataclass
class Samples:
    total: list[float] = field(default_factory=list)
    database: list[float] = field(default_factory=list)  # inside the driver's execute
    phases: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PHASES})

    def median_us(self) -> float:
        return statistics.median(self.total) * 1e6

    def p95_us(self) -> float:
        return statistics.quantiles(self.total, n=20)[-1] * 1e6

    def phase_us(self, phase: str) -> float:
        return statistics.median(self.phases[phase]) * 1e6

    def database_us(self) -> float:
        return statistics.median(self.database) * 1e6


def lookup(factory: sessionmaker[Session], member_id: int, now: datetime, window_days: int, into: Samples | None) -> None:
    """One chat "balance": the member row, tier progress, spendable points, in one session."""
    t0 = time.perf_counter()
    with factory() as session:
        member = session.get(Member, member_id)
        assert member is not None
        t1 = time.perf_counter()
        tiers.progress(session, member, now, window_days)
        t2 = time.perf_counter()
        ledger.spendable(session, member, now)
        t3 = time.perf_counter()
    t4 = time.perf_counter()
    if into is not None:
        into.total.append(t4 - t0)
        for name, value in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            into.phases[name].append(value)


@dataclass
class Target:
    built: Built
    engine: Engine
    factory: sessionmaker[Session]
    member_ids: list[int]
    samples: Samples = field(default_factory=Samples)
    driver_seconds: float = 0.0  # running total of time spent in cursor.execute


def open_target(built: Built) -> Target:
    engine = built.db.engine()  # the app's settings, a cold pool
    with engine.connect() as conn:
        ids = list(conn.scalars(select(Member.id).order_by(Member.id)))
    target = Target(built, engine, session_factory(engine), ids)

    # The database's own share of a lookup: the part that could grow with the ledger.
    @event.listens_for(engine, "before_cursor_execute")
    def _before(_conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool) -> None:
        context._bench_started = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(_conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool) -> None:
        started = getattr(context, "_bench_started", None)
        if started is not None:
            target.driver_seconds += time.perf_counter() - started

    return target


def measure_lookups(targets: list[Target], lookups: int, now: datetime, window_days: int, seed: int) -> None:
    """Warm up, then alternate rounds between the databases so drift hits both alike."""
    rng = random.Random(seed)
    for target in targets:
        for _ in range(max(200, lookups // 5)):
            lookup(target.factory, rng.choice(target.member_ids), now, window_days, None)
    rounds = 5
    for _ in range(rounds):
        for target in targets:
            for _ in range(lookups // rounds):
                before = target.driver_seconds
                lookup(target.factory, rng.choice(target.member_ids), now, window_days, target.samples)
                target.samples.database.append(target.driver_seconds - before)


def query_plans(target: Target, now: datetime, window_days: int) -> list[str]:
    """The plans of the lookup's SELECTs, captured from a real lookup."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    event.listen(target.engine, "before_cursor_execute", capture)
    try:
        lookup(target.factory, target.member_ids[len(target.member_ids) // 2], now, window_days, None)
    finally:
        event.remove(target.engine, "before_cursor_execute", capture)
    lines: list[str] = []
    sqlite = target.engine.dialect.name == "sqlite"
    with target.engine.connect() as conn:
        for statement, parameters in captured:
            lines.append("  " + " ".join(statement.split())[:160])
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            for row in conn.exec_driver_sql(prefix + statement, parameters):
                lines.append("      " + str(row[-1] if sqlite else row[0]))
        conn.rollback()
    return lines


@dataclass
class EarnResult:
    purchases: int
    seconds: float
    latencies: list[float]
    audit_ok: bool


def measure_earning(target: Target, config_slug: str, count: int, now: datetime, seed: int) -> EarnResult:
    """``record_purchase`` as the CLI runs it: a transaction per purchase, committed."""
    rng = random.Random(seed)
    factory = target.factory

    def one(i: int, tag: str) -> None:
        member_id = rng.choice(target.member_ids)
        amount = f"{rng.randint(250, 2500) / 100:.2f}"
        with factory.begin() as session:
            program = get_program(session, config_slug)
            member = members.find(session, program.id, member_code(member_id))
            earning.record_purchase(
                session, program, config_of(program), member, amount, f"bench-{tag}-{i}",
                now + timedelta(milliseconds=i), actor="bench",
            )

    for i in range(max(20, count // 20)):
        one(i, "warm")
    latencies: list[float] = []
    started = time.perf_counter()
    for i in range(count):
        t0 = time.perf_counter()
        one(i, "run")
        latencies.append(time.perf_counter() - t0)
    seconds = time.perf_counter() - started
    with Session(target.engine) as session:
        ok = ledger.audit(session).ok
    return EarnResult(count, seconds, latencies, ok)


# --- main -------------------------------------------------------------------------------


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL URL (tables go in fresh schemas, dropped after)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_LARGE:,} entries instead of {LARGE:,}")
    parser.add_argument("--lookups", type=int, default=2_000, help="measured lookups per size (default 2,000)")
    parser.add_argument("--purchases", type=int, default=2_000, help="measured purchases (default 2,000)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    base_url = normalize_url(args.database_url) if args.database_url else None
    if base_url and not base_url.startswith("postgresql"):
        parser.error("--database-url takes a PostgreSQL URL; without it a SQLite file is used")
    large = QUICK_LARGE if args.quick else LARGE
    config = load_program_file(DEMO_PROGRAM_PATH)
    window_days = config.tier_rules.window_days
    now = datetime.now(UTC).replace(microsecond=0)
    started = time.perf_counter()

    databases: list[Database] = []
    targets: list[Target] = []
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmp:
        try:
            small_db = make_database("small", base_url, Path(tmp))
            databases.append(small_db)
            large_db = make_database("large", base_url, Path(tmp))
            databases.append(large_db)
            built = [build(small_db, SMALL, config, now, args.seed), build(large_db, large, config, now, args.seed + 1)]

            log(f"measuring {args.lookups:,} lookups at each size...")
            targets = [open_target(b) for b in built]
            measure_lookups(targets, args.lookups, now, window_days, args.seed)
            plans = query_plans(targets[1], now, window_days)

            log(f"measuring {args.purchases:,} purchases at {targets[1].built.entries:,} entries...")
            earned = measure_earning(targets[1], built[1].program_slug, args.purchases, now, args.seed)
        finally:
            for target in targets:
                target.engine.dispose()
            for db in databases:
                drop_database(db, base_url)

    dialect = "postgresql" if base_url else "sqlite"
    small, big = targets
    ratio = big.samples.median_us() / small.samples.median_us()
    p95_ratio = big.samples.p95_us() / small.samples.p95_us()
    print()
    print(f"query plans of one lookup at {big.built.entries:,} entries:")
    for line in plans:
        print(line)
    print()
    print("data:")
    for target in targets:
        b = target.built
        size = f", file {b.size_mb:,.1f} MB" if b.size_mb is not None else ""
        print(f"  {b.entries:,} entries: {b.members:,} members, {b.purchases:,} purchases{size}, "
              f"built in {b.build_seconds:.1f}s, audit {'OK' if b.audit_ok else 'FAILED'}")
    print("lookup phases (median us: " + ", ".join(PHASES) + "; and the time inside the database driver):")
    for target in targets:
        parts = ", ".join(f"{target.samples.phase_us(p):,.0f}" for p in PHASES)
        print(f"  at {target.built.entries:,} entries: {parts}; driver {target.samples.database_us():,.0f}")
    db_ratio = big.samples.database_us() / small.samples.database_us()
    print(f"  driver-time ratio {_short(big.built.entries)}/{_short(small.built.entries)} (median): {db_ratio:.2f}")
    earn_median = statistics.median(earned.latencies) * 1e3
    print()
    print(f"ledger benchmark ({dialect}, {cores()} cores)")
    if args.quick:
        print(f"quick run: {large:,} entries stand in for {LARGE:,}")
    for target in targets:
        s = target.samples
        print(f"lookup at {target.built.entries:,} entries: median {s.median_us():,.0f} us, p95 {s.p95_us():,.0f} us")
    print(f"ratio {_short(big.built.entries)}/{_short(small.built.entries)} (median): {ratio:.2f}   goal <= {GOAL_RATIO}"
          f"   (p95 ratio {p95_ratio:.2f})")
    print(f"database driver time per lookup (median): {small.samples.database_us():,.0f} us -> "
          f"{big.samples.database_us():,.0f} us, ratio {db_ratio:.2f}")
    print(f"earn transactions: {earned.purchases / earned.seconds:,.0f} /s   "
          f"(median {earn_median:.2f} ms each, at {big.built.entries:,} entries, audit after: "
          f"{'OK' if earned.audit_ok else 'FAILED'})")
    print(f"total run time {time.perf_counter() - started:.0f}s")


def _short(n: int) -> str:
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= size and n % size == 0:
            return f"{n // size}{suffix}"
    return f"{n:,}"


if __name__ == "__main__":
    main()
