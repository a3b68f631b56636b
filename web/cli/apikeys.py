"""API keys from the shell: ``loyalty apikey create|list|revoke``."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from rewards import apikeys
from rewards.localtime import show
from web.cli.support import command
from web.runtime import runtime


@click.group(cls=AppGroup)
def apikey() -> None:
    """Keys for the REST API (/api/v1)."""


@command("create", group=apikey)
@click.option("--name", required=True, help="What the key is for, e.g. the till or the shop's website.")
def apikey_create(name: str) -> None:
    """Create a key for the program and print it (once)."""
    rt = runtime()
    with rt.transaction() as session:
        program, _ = rt.program(session)
        key, text = apikeys.create(session, program.id, name, rt.clock())
        prefix = key.prefix
    click.echo(text)
    # On standard error, so that KEY=$(loyalty apikey create --name till) holds the key alone.
    click.echo(f'API key "{name}" ({prefix}) created. Keep it now: it cannot be shown again.', err=True)


@command("list", group=apikey)
def apikey_list() -> None:
    """List the program's keys (their prefixes only)."""
    rt = runtime()
    with rt.transaction() as session:
        program, config = rt.program(session)
        keys = apikeys.list_keys(session, program.id)
        for key in keys:
            used = show(key.last_used_at, config.timezone) if key.last_used_at else "never"
            state = f"revoked {show(key.revoked_at, config.timezone)}" if key.revoked_at else "active"
            click.echo(f"{key.prefix}  {key.name}  created {show(key.created_at, config.timezone)}  last used {used}  {state}")
    if not keys:
        click.echo("no API keys yet: loyalty apikey create --name NAME")


@command("revoke", group=apikey)
@click.argument("prefix")
def apikey_revoke(prefix: str) -> None:
    """Revoke the key starting with PREFIX (its first 8 characters); it stops working at once."""
    rt = runtime()
    with rt.transaction() as session:
        program, _ = rt.program(session)
        key = apikeys.revoke(session, program.id, prefix, rt.clock())
        click.echo(f'API key "{key.name}" ({key.prefix}) revoked')


COMMANDS: tuple[click.Command, ...] = (apikey,)
