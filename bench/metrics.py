"""Metrics benchmark: the dashboard's 30-day figures and the /dashboard page at 100,000
members and 1,000,000 ledger entries over a year, and at a tenth of that.

    python bench/metrics.py [--postgres URL] [--quick] [--runs N]

Goals (bench/README.md): the 30-day figures under 300 ms at full size on SQLite and on
PostgreSQL, growing less than 2x for 10x the data; /dashboard under 100 ms for its own
work (the request less the figures and the cohort table it shows). Nothing asserts: it
measures and prints.

The data is written with bulk Core INSERTs into a database migrated like the app's
(``web.database.upgrade``), for the demo program: members who joined over the year, each
with about ten ledger entries (the join bonus, purchases with their purchase rows, a reward
code now and then with its ``redeem`` entry, a birthday bonus, a refund now and then with
its ``reversal``), cached balances equal to the ledger's sums, survey answers, and a day
in ``member_days`` for about one purchase in two (a message that day). Times are the
median of ``--runs`` runs after one to warm the caches, each in a transaction of its own:
``compute`` for the last 30 days (the figures, the previous period and the daily series),
``cohorts`` (six months), and GET /dashboard?days=30 by a signed-in owner through the
app's test client (everything but the network).
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from bench.databases import scratch_database  # noqa: E402
from rewards import staff  # noqa: E402
from rewards.metrics import summaries  # noqa: E402
from rewards.metrics.cohorts import cohorts  # noqa: E402
from rewards.metrics.figures import compute  # noqa: E402
from rewards.models import Code, Identity, LedgerEntry, Member, MemberDay, Purchase, Reward, Survey  # noqa: E402
from rewards.program.config import DEMO_PROGRAM_PATH  # noqa: E402
from web import database  # noqa: E402
from web.app import create_app  # noqa: E402
from web.settings import Settings  # noqa: E402

FULL_MEMBERS = 100_000
ENTRIES_PER_MEMBER = 10
CHUNK = 20_000
GOAL_MS, GOAL_GROWTH, PAGE_GOAL_MS = 300, 2.0, 100
PASSWORD = "bench password 1"
ORDER = (Member, Identity, Purchase, Code, LedgerEntry, MemberDay, Survey)
CHANNELS = ("telegram", "whatsapp", "sms")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Writer:
    """Rows in chunks of CHUNK, one executemany each, committed as they go."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.pending: dict[Any, list[dict[str, Any]]] = {}
        self.counts: dict[str, int] = {}

    def add(self, table: Any, row: dict[str, Any]) -> None:
        rows = self.pending.setdefault(table, [])
        rows.append(row)

    def between_members(self) -> None:
        """Written only between two members: a member's rows go in with the member."""
        if any(len(rows) >= CHUNK for rows in self.pending.values()):
            self.flush()

    def flush(self) -> None:
        """Every table's rows, parents first (the foreign keys)."""
        for t in ORDER:
            rows = self.pending.get(t) or []
            if rows:
                with self.engine.begin() as conn:
                    conn.execute(insert(t.__table__), rows)
                self.counts[t.__tablename__] = self.counts.get(t.__tablename__, 0) + len(rows)
                self.pending[t] = []


def build(app: Any, members: int, now: datetime, seed: int) -> dict[str, int]:
    """The program's year: ``members`` members with about ten ledger entries each."""
    rt = app.extensions["loyalty"]
    with rt.transaction() as session:
        program, config = rt.program(session)
        program_id = program.id
        rewards = [(r.id, r.cost) for r in session.scalars(select(Reward).where(Reward.program_id == program_id))]
        staff.create(session, program_id, "owner@bench.example", "owner", PASSWORD, now)
    zone_day = timedelta(hours=5)  # New York, near enough for which day a message was
    rnd = random.Random(seed)
    year = 365 * 86_400
    writer = Writer(rt.engine)
    ids = {"member": 0, "purchase": 0, "code": 0, "entry": 0}

    def entry(member_id: int, amount: int, kind: str, at: datetime, **extra: Any) -> None:
        ids["entry"] += 1
        writer.add(LedgerEntry, {"id": ids["entry"], "program_id": program_id, "member_id": member_id, "amount": amount,
                                 "kind": kind, "reason": kind, "idempotency_key": f"{kind}:{ids['entry']}",
                                 "created_at": at, "lot_at": at, "available_at": None, "purchase_id": None,
                                 "code_id": None, "referral_id": None, "actor": None, **extra})

    started = time.perf_counter()
    for m in range(1, members + 1):
        joined = now - timedelta(seconds=rnd.random() * year)
        balance = 50
        events: list[tuple[datetime, str]] = [(joined, "join")]
        span = (now - joined).total_seconds()
        # A steady rate over the membership (16 a year, 8 on average): a growing program.
        for _ in range(round(rnd.gauss(2 * (ENTRIES_PER_MEMBER - 2) * span / year, 1.0))):
            events.append((joined + timedelta(seconds=rnd.random() * span), "purchase"))
        events.append((joined + timedelta(seconds=rnd.random() * span), "birthday"))
        events.sort()
        member_rows: list[tuple[str, Any]] = []
        for at, what in events:
            if what == "join":
                entry(m, 50, "join", at)
            elif what == "birthday":
                entry(m, 100, "birthday", at)
                balance += 100
            elif balance >= 500 and rnd.random() < 0.25:  # a reward instead of a purchase
                reward_id, cost = rnd.choice(rewards)
                if cost > balance:
                    continue
                ids["code"] += 1
                member_rows.append(("code", {"id": ids["code"], "program_id": program_id, "member_id": m,
                                             "reward_id": reward_id, "code": f"B{ids['code']:011d}", "status": "issued",
                                             "cost": cost, "issued_at": at, "expires_at": at + timedelta(days=30),
                                             "used_at": None, "used_by": None}))
                member_rows.append(("redeem", (cost, at, ids["code"])))
                balance -= cost
            else:
                ids["purchase"] += 1
                minor = rnd.randint(300, 4000)
                points = minor // 10
                refunded = at + timedelta(days=1) if rnd.random() < 0.02 and at + timedelta(days=1) < now else None
                member_rows.append(("purchase", {"id": ids["purchase"], "program_id": program_id, "member_id": m,
                                                 "receipt_id": f"R{ids['purchase']}", "amount_minor": minor,
                                                 "points": points, "created_at": at, "refunded_at": refunded,
                                                 "actor": None}))
                member_rows.append(("earn", (points, at, ids["purchase"], refunded)))
                balance += 0 if refunded else points
                if rnd.random() < 0.5:
                    member_rows.append(("day", ((at - zone_day).date(), at)))
                if rnd.random() < 0.1:
                    member_rows.append(("survey", (ids["purchase"], at, rnd.randint(0, 10))))
        writer.add(Member, {"id": m, "program_id": program_id, "code": f"M{m:09d}", "phone": f"+1555{m:07d}",
                            "timezone": None, "name": None, "language": "en", "language_offered_at": None,
                            "birthday": None, "marketing_consent": True, "joined_at": joined,
                            "last_activity_at": joined, "deleted_at": None, "balance": balance, "tier_id": None})
        channel = CHANNELS[m % 3]
        writer.add(Identity, {"id": m, "program_id": program_id, "channel": channel, "member_id": m, "language": "en",
                              "address": str(10_000_000 + m) if channel == "telegram" else f"+1555{m:07d}",
                              "marketing_opt_out": False, "first_seen_at": joined, "last_seen_at": joined,
                              "flow": None, "flow_data": None, "flow_expires_at": None, "menu": None,
                              "unreachable_at": None, "unreachable_reason": None, "stopped_at": None})
        days: set[date] = set()
        for kind, value in member_rows:
            if kind == "code":
                writer.add(Code, value)
            elif kind == "redeem":
                cost, at, code_id = value
                entry(m, -cost, "redeem", at, code_id=code_id)
            elif kind == "purchase":
                writer.add(Purchase, value)
            elif kind == "earn":
                points, at, purchase_id, refunded = value
                entry(m, points, "purchase", at, purchase_id=purchase_id)
                if refunded:
                    entry(m, -points, "reversal", refunded, purchase_id=purchase_id)
            elif kind == "day" and value[0] not in days:
                days.add(value[0])
                writer.add(MemberDay, {"program_id": program_id, "member_id": m, "day": value[0], "first_at": value[1]})
            elif kind == "survey":
                purchase_id, at, score = value
                writer.add(Survey, {"program_id": program_id, "member_id": m, "purchase_id": purchase_id,
                                    "channel": "telegram", "asked_at": at + timedelta(hours=2), "score": score,
                                    "answered_at": at + timedelta(hours=3)})
        writer.between_members()
        if m % 20_000 == 0:
            log(f"  {m:,} members, {ids['entry']:,} entries, {time.perf_counter() - started:.0f}s")
    writer.flush()
    if rt.engine.dialect.name == "postgresql":
        with rt.engine.begin() as conn:
            for table in ("members", "identities", "purchases", "codes", "ledger_entries", "member_days", "surveys"):
                conn.exec_driver_sql(f"ANALYZE {table}")
            for table, column in (("members", "id"), ("identities", "id"), ("purchases", "id"), ("codes", "id"),
                                  ("ledger_entries", "id")):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                                     f"(SELECT max({column}) FROM {table}))")
    else:
        with rt.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    log(f"  built in {time.perf_counter() - started:.0f}s: {writer.counts}")
    return {"members": members, "entries": ids["entry"], "purchases": ids["purchase"]}


def median_ms(runs: int, work: Any) -> float:
    work()  # warm
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def sum_up(app: Any, now: datetime) -> float:
    """What the clock does after an upgrade, and then every ten minutes: sum up the closed
    days (a year of them, here) and the windows today's periods read. Seconds."""
    rt = app.extensions["loyalty"]
    with rt.transaction() as session:
        program, config = rt.program(session)
    started = time.perf_counter()
    filled = summaries.fill(rt.sessions, program.id, ZoneInfo(config.timezone), now)
    log(f"  summed up {filled.days} days and {filled.windows} windows")
    return time.perf_counter() - started


def measure(app: Any, now: datetime, runs: int) -> dict[str, float]:
    rt = app.extensions["loyalty"]
    with rt.transaction() as session:
        program, config = rt.program(session)
        program_id = program.id
    today = now.astimezone(ZoneInfo(config.timezone)).date()

    def figures(use: bool = True) -> None:
        with rt.transaction() as session:
            compute(session, program_id, config, today - timedelta(days=29), today, now, summaries=use)

    def table() -> None:
        with rt.transaction() as session:
            cohorts(session, program_id, config.timezone, today, today, 6)

    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    signed = client.post("/login", data={"email": "owner@bench.example", "password": PASSWORD, "csrf_token": token})
    assert signed.status_code == 302, signed.status_code

    def dashboard() -> None:
        response = client.get("/dashboard?days=30")
        assert response.status_code == 200, response.status_code

    return {"figures": median_ms(runs, figures), "events": median_ms(max(1, runs // 3), lambda: figures(False)),
            "cohorts": median_ms(runs, table), "page": median_ms(runs, dashboard)}


def run(postgres: str | None, members: int, runs: int, now: datetime, seed: int, tmp: Path) -> tuple[dict[str, int], dict[str, float]]:
    with scratch_database(postgres, tmp, f"metrics{members}") as url:
        app = create_app(Settings.from_env({"DATABASE_URL": url, "LOYALTY_PROGRAM_FILE": str(DEMO_PROGRAM_PATH),
                                            "LOYALTY_QR_DIR": str(tmp / "qr")}))
        rt = app.extensions["loyalty"]
        try:
            database.upgrade(rt.engine)
            rt.clock = lambda: now
            log(f"building {members:,} members ({'postgresql' if postgres else 'sqlite'})...")
            sizes = build(app, members, now, seed)
            summing = sum_up(app, now)
            log("measuring...")
            times = measure(app, now, runs)
            # Ten minutes on, the clock makes "the last N days so far" again: its steady cost.
            return sizes, {**times, "sum_up": summing, "refresh": sum_up(app, now + timedelta(minutes=10))}
        finally:
            rt.engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", help="a PostgreSQL URL (a fresh schema, dropped after); default SQLite")
    parser.add_argument("--quick", action="store_true", help="10,000 and 1,000 members instead of 100,000 and 10,000")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    full = FULL_MEMBERS // 10 if args.quick else FULL_MEMBERS
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp:
        small = run(args.postgres, full // 10, args.runs, now, args.seed, Path(tmp))
        large = run(args.postgres, full, args.runs, now, args.seed + 1, Path(tmp))
    print()
    print(f"metrics benchmark ({'postgresql' if args.postgres else 'sqlite'}), median of {args.runs} runs")
    for sizes, times in (small, large):
        own = times["page"] - times["figures"] - times["cohorts"]
        print(f"  {sizes['members']:,} members, {sizes['entries']:,} entries, {sizes['purchases']:,} purchases: "
              f"30-day figures {times['figures']:.0f} ms (from the events alone {times['events']:.0f} ms), "
              f"cohorts {times['cohorts']:.0f} ms, "
              f"/dashboard {times['page']:.0f} ms (its own work {own:.0f} ms); "
              f"the clock summed up the year in {times['sum_up']:.1f} s, and then every 10 minutes "
              f"takes {times['refresh']:.1f} s")
    growth = large[1]["figures"] / small[1]["figures"]
    page_growth = large[1]["page"] / small[1]["page"]
    print(f"  figures: {large[1]['figures']:.0f} ms at full size (goal < {GOAL_MS}), x{growth:.2f} for 10x data "
          f"(goal < {GOAL_GROWTH}); /dashboard x{page_growth:.2f}")


if __name__ == "__main__":
    main()
