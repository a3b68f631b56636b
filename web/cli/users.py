"""Console users from the shell: ``loyalty users create|list|role|disable|enable|passwd``."""
from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from rewards import staff as staff_users
from rewards.localtime import show
from web.cli.support import command
from web.runtime import runtime


@click.group(cls=AppGroup)
def users() -> None:
    """People who sign in to the console (/console): owners, managers, cashiers."""


def _read_password(confirm: bool = True) -> str:
    """From standard input when it is not a terminal (``echo "$PW" | loyalty users create ...``),
    else asked twice without echo."""
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.ClickException("no password on standard input: pipe one in, or run this in a terminal")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    return staff_users.check_password(password)


@command("create", group=users)
@click.argument("email")
@click.option("--role", type=click.Choice(staff_users.ROLES), required=True,
              help="owner: everything; manager: dashboard, members, campaigns; cashier: the till page only.")
@click.option("--language", type=click.Choice(staff_users.LANGUAGES), default="en", show_default=True,
              help="The console's language for this user.")
def users_create(email: str, role: str, language: str) -> None:
    """Create a console user; the password is read from standard input or asked twice."""
    email = staff_users.clean_email(email)
    password = _read_password()
    rt = runtime()
    with rt.transaction() as session:
        program, _ = rt.program(session)
        staff_users.create(session, program.id, email, role, password, rt.clock(), language=language)
    base = rt.settings.public_base_url or "http://127.0.0.1:8000"  # `loyalty serve`'s default
    click.echo(f"{email} can now sign in as {role} at {base}/login")


@command("list", group=users)
def users_list() -> None:
    """List the console's users with their role and last sign-in."""
    rt = runtime()
    with rt.transaction() as session:
        program, config = rt.program(session)
        rows = staff_users.list_users(session, program.id)
        for user in rows:
            last = show(user.last_login_at, config.timezone) if user.last_login_at else "never"
            state = f"disabled {show(user.disabled_at, config.timezone)}" if user.disabled_at else "active"
            click.echo(f"{user.email}  {user.role}  last sign-in {last}  {state}")
    if not rows:
        click.echo("no console users yet: loyalty users create EMAIL --role owner")


@command("disable", group=users)
@click.argument("email")
def users_disable(email: str) -> None:
    """Stop EMAIL signing in; their open sessions end at their next click (never the last
    active owner)."""
    rt = runtime()
    with rt.transaction() as session:
        program, _ = rt.program(session)
        user = staff_users.find(session, program.id, email)
        staff_users.disable(session, user, rt.clock())
        click.echo(f"{user.email} is disabled")


@command("role", group=users)
@click.argument("email")
@click.option("--role", type=click.Choice(staff_users.ROLES), required=True, help="The user's new role.")
def users_role(email: str, role: str) -> None:
    """Give EMAIL another role; their open sessions end. The last active owner stays owner."""
    rt = runtime()
    with rt.transaction() as session:
        program, _ = rt.program(session)
        user = staff_users.find(session, program.id, email)
        staff_users.set_role(session, user, role)
        click.echo(f"{user.email} is now {role}")


@command("enable", group=users)
@click.argument("email")
def users_enable(email: str) -> None:
    """Let a disabled EMAIL sign in again."""
    rt = runtime()
    with rt.transaction() as session:
        program, _ = rt.program(session)
        user = staff_users.find(session, program.id, email)
        staff_users.enable(user)
        click.echo(f"{user.email} can sign in again")


@command("passwd", group=users)
@click.argument("email")
def users_passwd(email: str) -> None:
    """Set a new password for EMAIL (standard input or asked twice); their sessions end."""
    password = _read_password()
    rt = runtime()
    with rt.transaction() as session:
        program, _ = rt.program(session)
        user = staff_users.find(session, program.id, email)
        staff_users.set_password(user, password)
        click.echo(f"the password of {user.email} is changed")


COMMANDS: tuple[click.Command, ...] = (users,)
