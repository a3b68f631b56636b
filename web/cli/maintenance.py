"""``loyalty db``, ``loyalty audit``, ``loyalty expire``: the schema and the books."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from rewards import ledger, redemption
from web import database
from web.cli.support import command
from web.runtime import runtime


@click.group(cls=AppGroup)
def db() -> None:
    """Database schema (Alembic migrations)."""


@command("upgrade", group=db)
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    engine = runtime().engine
    before = database.current_revision(engine)
    database.upgrade(engine, revision)
    after = database.current_revision(engine)
    click.echo(f"database at {after}" + (" (no change)" if before == after else f" (was {before or 'empty'})"))


@command("current", group=db)
def db_current() -> None:
    """Show the schema revision and whether it is the newest."""
    engine = runtime().engine
    current = database.current_revision(engine)
    head = database.head_revision(engine)
    click.echo(f"database at {current or 'empty'}; newest is {head}" + (" (up to date)" if current == head else ""))


@command("audit")
def audit_command() -> None:
    """Prove cached balances equal ledger sums (exit 1 if not)."""
    with runtime().transaction() as session:
        report = ledger.audit(session)
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        raise SystemExit(1)


@command("expire")
def expire_command() -> None:
    """Expire old points and unused codes now (`loyalty clock` does this daily, and tells members)."""
    rt = runtime()
    now = rt.clock()
    with rt.transaction() as session:
        program, config = rt.program(session)
        points = ledger.expire_points(session, program.id, config.expiry.after_days, now)
        codes = redemption.expire_codes(session, program.id, now)
    click.echo(f"expired {sum(e.points for e in points)} points of {len(points)} members; "
               f"{len(codes)} unused codes expired and their points returned")


COMMANDS: tuple[click.Command, ...] = (db, audit_command, expire_command)
