"""The ``loyalty`` command: a Flask CLI group, so ``loyalty routes`` and ``loyalty shell`` work.

Each command runs one unit of work through the runtime; a user mistake prints
``Error: <what was wrong and what to do>`` and exits 1, never a stack trace.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click
from flask import has_app_context
from flask.cli import AppGroup, FlaskGroup, with_appcontext
from sqlalchemy.exc import InterfaceError, OperationalError

from rewards import ledger, redemption
from rewards.errors import LoyaltyError
from web import database
from web.app import create_app, runtime

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """Show a domain or setup refusal, or a database that does not open or answer, as one
    clear line (exit status 1)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LoyaltyError as error:
            raise click.ClickException(str(error)) from None
        except (OperationalError, InterfaceError) as error:
            if not has_app_context():
                raise
            raise click.ClickException(database.describe_failure(error, runtime().engine.url)) from None

    return wrapper  # type: ignore[return-value]


def command(group: click.Group, *args: Any, **kwargs: Any) -> Callable[[F], F]:
    """A command that has the app context and turns domain errors into one clear line
    (also those of making the app: a DATABASE_URL that is not a URL, say)."""

    def decorate(func: F) -> F:
        if isinstance(group, AppGroup):
            kwargs.setdefault("with_appcontext", False)  # it would load the app outside friendly_errors
        return group.command(*args, **kwargs)(friendly_errors(with_appcontext(func)))  # type: ignore[return-value]

    return decorate


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), add_version_option=False, load_dotenv=False)
def cli() -> None:
    """Loyalty program in chat: Telegram, WhatsApp, SMS.

    Settings come from the environment (DATABASE_URL, LOYALTY_PROGRAM_FILE, ...); see README.
    """


def main() -> None:
    """The ``loyalty`` script. Flask's own commands (``routes``, ``shell``) make the app
    outside ``friendly_errors``: a setup error there is one line too."""
    try:
        cli.main()
    except LoyaltyError as error:
        click.echo(f"Error: {error}", err=True)
        raise SystemExit(1) from None


@cli.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@command(db, "upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    engine = runtime().engine
    before = database.current_revision(engine)
    database.upgrade(engine, revision)
    after = database.current_revision(engine)
    click.echo(f"database at {after}" + (" (no change)" if before == after else f" (was {before or 'empty'})"))


@command(db, "current")
def db_current() -> None:
    """Show the schema revision and whether it is the newest."""
    engine = runtime().engine
    current = database.current_revision(engine)
    head = database.head_revision(engine)
    click.echo(f"database at {current or 'empty'}; newest is {head}" + (" (up to date)" if current == head else ""))


@command(cli, "audit")
def audit_command() -> None:
    """Prove cached balances equal ledger sums (exit 1 if not)."""
    with runtime().transaction() as session:
        report = ledger.audit(session)
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        raise SystemExit(1)


@command(cli, "expire")
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


def register() -> None:
    # Imported for their side effect of adding commands to ``cli``.
    import web.clock_command  # noqa: F401
    import web.outbox_commands  # noqa: F401
    import web.telegram_commands  # noqa: F401
    import web.worker_command  # noqa: F401
    from web import apikey_commands, campaign_commands, chat_command, program_commands, serve_command, staff_commands  # noqa: F401


register()
