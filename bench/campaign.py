"""Campaign fan-out benchmark: a campaign to 100,000 members, on SQLite and PostgreSQL.

    python bench/campaign.py [--members N] [--postgres URL] [--batch 5000]

A 100,000-member campaign should be fanned out in seconds (bench/README.md); the goals
printed beside the figures: under 10 s on a 2-core machine, under 300 MB of memory (the
audience is streamed, never loaded whole). Nothing here asserts.

The members are written with bulk Core INSERTs (not the ORM one by one): phones spread
over US area codes in four time zones plus Spain and the UK (so quiet hours hold some
messages back), one identity each (Telegram, WhatsApp or SMS, a few opted out,
unreachable or outside WhatsApp's window), tiers, languages, consent for 95%.

Each measured fan-out runs in a child process of its own, as ``loyalty campaign
send-due`` does: ``fan_out`` a batch of members per committed transaction until the run is
done. The child's peak resident memory (``ru_maxrss``) is the fan-out's alone, with the
interpreter and imports included; a second child repeats the first campaign's run with
``tracemalloc`` for the Python heap's peak (slower, so it is not timed). Three campaigns run
one after the other: the first to everyone; a second to everyone, whose weekly-cap look-ups
now find the first's 100,000 recipients; a coupon to everyone, which also issues a code per
recipient. With PostgreSQL (``--postgres`` or LOYALTY_TEST_POSTGRES_URL) the same runs in a
fresh schema, dropped afterwards.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text, update  # noqa: E402

from rewards.codes import ALPHABET, MEMBER_LENGTH  # noqa: E402
from rewards.localtime import zone_for_phone  # noqa: E402
from rewards.models import Base, Campaign, CampaignRecipient, Identity, Member, OutboxMessage, Program, Tier  # noqa: E402
from rewards.program.config import DEMO_PROGRAM_PATH, Promotions, load_program_file  # noqa: E402
from rewards.program.programs import config_of, sync_program  # noqa: E402
from rewards.promotions import campaigns  # noqa: E402
from rewards.promotions.fanout import fan_out  # noqa: E402
from rewards.storage.db import make_engine, normalize_url, session_factory  # noqa: E402

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York, 07:00 in Los Angeles
CHANNELS = ("telegram", "whatsapp", "sms")
GOAL_SECONDS = 10.0
GOAL_MB = 300.0
INSERT_CHUNK = 10_000
# (E.164 prefix, share): New York, Chicago, Denver, Los Angeles (quiet until 09:00), Madrid, London
AREAS = [("+1212", 30), ("+1312", 20), ("+1303", 10), ("+1310", 25), ("+3491", 10), ("+4420", 5)]


def engine_for(url: str, connect_args: dict[str, Any]) -> Any:
    """``make_engine`` as the app opens it; PostgreSQL gets the bench schema's search path."""
    return make_engine(url, connect_args=connect_args) if connect_args else make_engine(url)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def member_code(member_id: int) -> str:
    """A unique, random-looking code: an odd multiplier is a bijection mod 32**8."""
    n = (member_id * 0x9E3779B1) % (32**MEMBER_LENGTH)
    out = []
    for _ in range(MEMBER_LENGTH):
        n, d = divmod(n, 32)
        out.append(ALPHABET[d])
    return "".join(out)


def phone(member_id: int) -> str:
    """A unique number in one of AREAS, by the member's id."""
    spot = member_id % 100
    for prefix, share in AREAS:
        if spot < share:
            rest = 7 if prefix.startswith("+44") else 6
            return f"{prefix}{2 + member_id % 8}{member_id % 10**rest:0{rest}d}"
        spot -= share
    raise AssertionError("AREAS shares add up to 100")


def build(url: str, connect_args: dict[str, Any], members: int) -> None:
    engine = engine_for(url, connect_args)
    Base.metadata.create_all(engine)
    # A cap of 10 a week, so the later campaigns are not all skipped as over the cap.
    config = replace(load_program_file(DEMO_PROGRAM_PATH), promotions=Promotions(10))
    with session_factory(engine).begin() as session:
        program = sync_program(session, config, NOW)
        program_id = program.id
        tier_ids = [t.id for t in session.scalars(select(Tier).where(Tier.program_id == program_id).order_by(Tier.threshold))]
    started = time.perf_counter()
    with engine.begin() as conn:
        for first in range(1, members + 1, INSERT_CHUNK):
            ids = range(first, min(first + INSERT_CHUNK, members + 1))
            conn.execute(insert(Member), [{
                "id": i, "program_id": program_id, "code": member_code(i), "phone": phone(i), "name": None,
                "timezone": zone_for_phone(phone(i), config.timezone),  # as members.join sets it
                "language": "es" if i % 5 == 0 else "en", "birthday": date(1980 + i % 30, 1 + i % 12, 1 + i % 28),
                "marketing_consent": i % 20 != 0, "joined_at": NOW - timedelta(days=1 + i % 700),
                "last_activity_at": NOW - timedelta(days=i % 90), "balance": 0,
                "tier_id": tier_ids[0 if i % 10 < 6 else 1 if i % 10 < 9 else 2],
            } for i in ids])
            conn.execute(insert(Identity), [{
                "id": i, "program_id": program_id, "channel": CHANNELS[i % 4 % 3], "member_id": i,
                "address": f"tg-{i}" if i % 4 % 3 == 0 else phone(i), "marketing_opt_out": i % 33 == 0,
                "first_seen_at": NOW - timedelta(days=400), "unreachable_at": NOW if i % 97 == 0 else None,
                "last_seen_at": NOW - timedelta(hours=i % 48),  # half the WhatsApp users are outside the window
            } for i in ids])
    log(f"  built {members:,} members and identities in {time.perf_counter() - started:.1f}s")
    zone_for_phone.cache_clear()  # the children start cold anyway; this keeps the parent honest too
    engine.dispose()


def child(url: str, connect_args: dict[str, Any], name: str, coupon: bool, batch: int, trace: bool) -> dict[str, Any]:
    """One campaign created and fanned out to the end, a committed transaction per batch."""
    engine = engine_for(url, connect_args)
    factory = session_factory(engine)
    now = NOW + timedelta(minutes=len(name))  # each campaign a little later than the one before
    with factory.begin() as session:
        program = session.scalars(select(Program)).one()
        config = config_of(program)
        if name.startswith("cold"):  # members from before members.timezone: zones worked out from phones
            session.execute(update(Member).values(timezone=None))
        draft = campaigns.draft(session, program, config, now, name=name, text="Spring is here: double points!",
                                send_now=True, coupon="pastry" if coupon else None)
        campaign_id = campaigns.create(session, program, config, draft, now, "bench").id
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    queued = skipped = waiting = 0
    while True:
        with factory.begin() as session:
            step = fan_out(session, session.get(Campaign, campaign_id), now, CHANNELS, limit=batch)
        queued, skipped, waiting = queued + step.queued, skipped + step.skipped, waiting + step.waiting
        if step.done:
            break
    seconds = time.perf_counter() - started
    heap_mb = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    with factory.begin() as session:
        rows = session.scalar(select(func.count(OutboxMessage.id)).where(
            OutboxMessage.dedupe_key.like(f"campaign:{campaign_id}:%")))
        recorded = session.scalar(select(func.count(CampaignRecipient.id)).where(CampaignRecipient.campaign_id == campaign_id))
    engine.dispose()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "queued": queued, "skipped": skipped, "waiting": waiting, "outbox_rows": rows,
            "recipients": recorded, "rss_mb": rss_kb / 1024, "heap_mb": heap_mb}


def spawn(url: str, connect_args: dict[str, Any], name: str, coupon: bool, batch: int, trace: bool = False) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", name, "--url", url, "--connect-args", json.dumps(connect_args),
            "--batch", str(batch)] + (["--coupon"] if coupon else []) + (["--trace"] if trace else [])
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child {name} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def measure(label: str, url: str, connect_args: dict[str, Any], members: int, batch: int) -> None:
    log(f"{label}: building")
    build(url, connect_args, members)
    print(f"\n{label}, {members:,} members, {batch:,} a transaction")
    print(f"  {'campaign':<28} {'seconds':>8} {'members/s':>10} {'queued':>8} {'waiting':>8} {'skipped':>8} {'peak RSS':>9}")
    for name, coupon in (("first", False), ("second (cap look-ups)", False), ("coupon (a code each)", True),
                         ("cold (zones from phones)", False)):
        log(f"{label}: fanning out {name}")
        r = spawn(url, connect_args, name, coupon, batch)
        assert r["outbox_rows"] == r["queued"] and r["recipients"] == members, r
        print(f"  {name:<28} {r['seconds']:>8.2f} {members / r['seconds']:>10,.0f} {r['queued']:>8,} {r['waiting']:>8,}"
              f" {r['skipped']:>8,} {r['rss_mb']:>6.0f} MB")
    traced = spawn(url, connect_args, "traced", False, batch, trace=True)
    print(f"  Python heap peak during a fan-out (tracemalloc): {traced['heap_mb']:.1f} MB;"
          f" goals: under {GOAL_SECONDS:.0f} s and {GOAL_MB:.0f} MB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000, help="members per transaction (default 5,000)")
    parser.add_argument("--postgres", default=os.environ.get("LOYALTY_TEST_POSTGRES_URL"),
                        help="a PostgreSQL URL (default LOYALTY_TEST_POSTGRES_URL); a fresh schema is used")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--connect-args", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--coupon", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.url, json.loads(args.connect_args), args.child, args.coupon, args.batch, args.trace)))
        return
    print(f"campaign fan-out benchmark, {os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-campaign-") as tmp:
        measure("SQLite", f"sqlite:///{Path(tmp) / 'campaign.db'}", {}, args.members, args.batch)
    if args.postgres:
        base = normalize_url(args.postgres)
        schema = f"bench_campaign_{uuid.uuid4().hex[:10]}"
        admin = make_engine(base)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            measure("PostgreSQL", base, {"options": f"-csearch_path={schema}"}, args.members, args.batch)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()
    else:
        print("\n(PostgreSQL skipped: give --postgres URL or set LOYALTY_TEST_POSTGRES_URL)")


if __name__ == "__main__":
    main()
