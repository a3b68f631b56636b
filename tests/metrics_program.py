"""A small program whose figures are worked out by hand (``EXPECTED``), shared by the tests
of every surface that shows them: the domain, ``loyalty metrics``, the API, the dashboard.

The demo program (America/New_York, 10 points per 1.00, join bonus 50, referral 200/100 on
a first purchase of 5.00 or more). The period is 2026-03-01 to 2026-03-07 (EST, UTC-5); the
previous period 2026-02-22 to 2026-02-28.

  A joins Feb 23, buys 10.00 Feb 24 (100 points);   B joins Feb 25, buys 5.00 the same day.
  C joins Mar 2 with A's invitation; A buys 20.00 Mar 2 and 10.00 Mar 3.
  D joins Mar 3, buys 8.00 (80 points) the same day, refunded Mar 5.
  C buys 6.00 Mar 4 (60 points): the referral pays A 200 and C 100.
  A takes a Free pastry (300 points) Mar 5.  B writes to the bot Mar 6 (a message).
  Survey answers Mar 6: A 10, B 9, C 5.
  E joins Mar 7 at 23:30 New York time (Mar 8 04:30 UTC): in the period.
  F joins Mar 8 at 00:30 New York time: after it.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import select
from sqlalchemy.orm import Session

from rewards import apikeys, earning, ledger, members, redemption, referrals, surveys
from rewards.models import Member, Program, Reward
from rewards.program.config import DEMO_PROGRAM_PATH, ProgramConfig

START, END = date(2026, 3, 1), date(2026, 3, 7)
NOW = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)


def at(month: int, day: int, hour: int = 15, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def build(session: Session, program: Program, config: ProgramConfig) -> dict[str, Member]:
    """Make the program's history; returns the members by letter. Commits nothing."""
    people: dict[str, Member] = {}

    def join(letter: str, now: datetime, invited_by: Member | None = None) -> Member:
        phone = f"+1555020{ord(letter):04d}"
        identity = members.get_identity(session, program.id, "terminal", phone, now)
        if invited_by is not None:
            assert referrals.record_invite(session, config, identity, invited_by.code, now, phone=phone).accepted
        people[letter] = members.join(session, program, config, identity, now, phone=phone, language="en").member
        return people[letter]

    def buy(letter: str, amount: str, receipt: str, now: datetime) -> Any:
        return earning.record_purchase(session, program, config, people[letter], amount, receipt, now).purchase

    join("A", at(2, 23))
    a1 = buy("A", "10.00", "a1", at(2, 24))
    join("B", at(2, 25))
    b1 = buy("B", "5.00", "b1", at(2, 25, 16))
    join("C", at(3, 2), invited_by=people["A"])
    buy("A", "20.00", "a2", at(3, 2, 16))
    buy("A", "10.00", "a3", at(3, 3))
    join("D", at(3, 3, 17))
    buy("D", "8.00", "d1", at(3, 3, 18))
    earning.refund(session, program, config, "d1", at(3, 5))
    c1 = buy("C", "6.00", "c1", at(3, 4))
    pastry = session.scalar(select(Reward).where(Reward.program_id == program.id, Reward.slug == "pastry"))
    redemption.issue(session, config, people["A"], pastry, at(3, 5, 16))
    members.record_activity(session, people["B"], at(3, 6), config.timezone)
    for letter, purchase, score in (("A", a1, 10), ("B", b1, 9), ("C", c1, 5)):
        survey = surveys.ask(session, people[letter], purchase, "terminal", at(3, 5, 20), 30)
        assert survey is not None
        surveys.answer(session, config, survey.id, score, at(3, 6, 18))
    join("E", at(3, 8, 4, 30))
    join("F", at(3, 8, 5, 30))
    session.flush()
    return people


# Worked out by hand from the story above (not by the code under test).
EXPECTED: dict[str, Any] = {
    "members.total": 5,  # A B C D E
    "members.new": 3,  # C D E
    "members.active": 3,  # A, C purchased; A redeemed; B wrote (D's purchase was refunded)
    "members.referred_share": round(1 / 3, 4),  # C of C D E
    "purchases.count": 3,  # a2 a3 c1
    "purchases.sales": "36.00",
    "purchases.average": "12.00",
    "purchases.per_active_member": 1.0,
    "repeat_purchase_rate": 0.5,  # A of A, C
    "referral_rate": round(1 / 3, 4),  # A of A B C
    "retention_rate": 0.5,  # A of A, B
    "churn_rate": 0.5,
    "nps.score": round(100 * (2 - 1) / 3, 1),
    "nps.responses": 3,
    "points.earned": 50 * 3 + 200 + 100 + 80 + 60 + 200 + 100,  # joins C D E, purchases, referral 200 + 100
    "points.redeemed": 300,
    "points.returned": 0,
    "points.refunded": 80,
    "points.expired": 0,
    "points.outstanding": 250 + 890 - 80 - 300,  # F's 50 came after the period
    "points.outstanding_value": None,
    "redemption_rate": round(300 / 890, 4),
    "previous.members.total": 2,
    "previous.members.active": 2,
    "previous.purchases.count": 2,
    "previous.purchases.sales": "15.00",
    "previous.points.earned": 250,
    "previous.points.outstanding": 250,
    "previous.retention_rate": None,
    "previous.nps.score": None,
}


def pick(document: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        document = document[part]
    return document


class StoryShop:
    """An app on a fresh database holding the story's program, its clock at ``NOW``, with an
    API key; ``rt``, ``app`` and ``program_id`` as the console's fixtures expect of a shop."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.rt = app.extensions["loyalty"]
        self.rt.clock = lambda: NOW
        with self.rt.transaction() as session:
            program, config = self.rt.program(session)
            build(session, program, config)
            _, key = apikeys.create(session, program.id, "reports", NOW)
            self.program_id = program.id
        self.auth = {"Authorization": f"Bearer {key}"}

    def cli(self, *args: str) -> Any:
        from web.cli import cli

        return CliRunner().invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: self.app))

    def api(self, query: str) -> Any:
        return self.app.test_client().get(f"/api/v1/metrics{query}", headers=self.auth)

    def audit(self) -> None:
        with Session(self.rt.engine) as session:
            report = ledger.audit(session)
        assert report.ok, "\n".join(report.lines())


@contextmanager
def story_shop(kind: str, tmp_path: Path) -> Iterator[StoryShop]:
    """The story's shop on SQLite or (when LOYALTY_TEST_POSTGRES_URL is set) PostgreSQL."""
    from support import NO_POSTGRES, POSTGRES_URL, drop_postgres_schema, migrated_postgres_url, migrated_sqlite_url

    from web.app import create_app
    from web.settings import Settings

    schema = None
    if kind == "postgres":
        if not POSTGRES_URL:
            pytest.skip(NO_POSTGRES)
        url, schema = migrated_postgres_url()
    else:
        url = migrated_sqlite_url(tmp_path / "metrics.db")
    app = create_app(Settings.from_env({"DATABASE_URL": url, "LOYALTY_PROGRAM_FILE": str(DEMO_PROGRAM_PATH),
                                        "LOYALTY_QR_DIR": str(tmp_path / "qr")}))
    try:
        made = StoryShop(app)
        yield made
        made.audit()
    finally:
        app.extensions["loyalty"].engine.dispose()
        if schema:
            drop_postgres_schema(schema)
