"""The ``loyalty`` command: a Flask CLI group, so ``loyalty routes`` and ``loyalty shell`` work.

Each command runs one unit of work through the runtime; a user mistake prints
``Error: <what was wrong and what to do>`` and exits 1, never a stack trace.
"""
from __future__ import annotations

import click

from rewards.errors import LoyaltyError
from web.app import create_app
from web.cli import (
    apikeys,
    campaigns,
    chat,
    clock,
    maintenance,
    metrics,
    outbox,
    program,
    serve,
    staff,
    telegram,
    users,
    worker,
)
from web.cli.support import LoyaltyGroup


@click.group(cls=LoyaltyGroup, create_app=lambda: create_app())
def cli() -> None:
    """Loyalty program in chat: Telegram, WhatsApp, SMS.

    Settings come from the environment (DATABASE_URL, LOYALTY_PROGRAM_FILE, ...); see docs/production.md.
    """


def main() -> None:
    """The ``loyalty`` script. Flask's own commands (``routes``, ``shell``) make the app
    outside ``friendly_errors``: a setup error there is one line too."""
    try:
        cli.main()
    except LoyaltyError as error:
        click.echo(f"Error: {error}", err=True)
        raise SystemExit(1) from None


# Every command, added here rather than by importing a module for its side effect.
for _module in (maintenance, apikeys, campaigns, chat, clock, metrics, outbox, program, serve, staff, telegram, users,
                worker):
    for _command in _module.COMMANDS:
        cli.add_command(_command)
