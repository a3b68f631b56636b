"""Loading programs: ``loyalty demo`` and ``loyalty program load|check``."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
from flask.cli import AppGroup

from rewards import earning, members
from rewards.program.config import DEMO_PROGRAM_PATH, ProgramConfig, load_program_file
from rewards.program.programs import sync_program
from web import demo_history
from web.cli.support import command
from web.runtime import Runtime, runtime

# name, phone, language, (days ago, amount) purchases
DEMO_MEMBERS = [
    ("Ana", "+15550000001", "es", [(40, "12.50"), (12, "8.00"), (2, "24.00")]),
    ("Ben", "+15550000002", "en", [(200, "120.00"), (90, "95.50"), (30, "60.00"), (3, "18.25")]),
    ("Chloe", "+15550000003", "en", [(5, "4.75")]),
    ("Diego", "+15550000004", "es", [(300, "210.00"), (150, "80.00")]),
    ("Emma", "+15550000005", "en", []),
]


@command("demo")
@click.option("--busy", is_flag=True,
              help="Also add 200 sample customers with six months of purchases, rewards, referrals and survey "
                   "answers, for the console's dashboard.")
def demo_command(busy: bool) -> None:
    """Load the demo program (a coffee shop) and a few sample members. Safe to run again."""
    rt = runtime()
    now = rt.clock()
    config = load_program_file(DEMO_PROGRAM_PATH)
    with rt.transaction() as session:
        program = sync_program(session, config, now)
        created = 0
        for name, phone, language, purchases in DEMO_MEMBERS:
            if members.by_phone(session, program.id, phone) is not None:
                continue
            joined_at = now - timedelta(days=max([d for d, _ in purchases], default=0) + 1)
            identity = members.get_identity(session, program.id, "terminal", phone, joined_at)
            member = members.join(session, program, config, identity, joined_at, phone=phone, language=language, name=name).member
            for number, (days, amount) in enumerate(purchases, 1):
                earning.record_purchase(
                    session, program, config, member, amount, f"DEMO-{phone[-4:]}-{number}", now - timedelta(days=days), "demo"
                )
            created += 1
    rt.program_slug = config.slug
    click.echo(f'demo program "{config.name}" loaded into {rt.engine.url.render_as_string()}; '
               f"{created} sample members added" + (" (they were already there)" if not created else ""))
    if busy:
        _busy(rt, config)
    click.echo("try it:  loyalty chat --as +15550001111   (a new customer)")
    click.echo("         loyalty chat --as +15550000002   (Ben, a member with points)")


def _busy(rt: Runtime, config: ProgramConfig) -> None:
    def progress(done: int, total: int) -> None:
        if done % 50 == 0 or done == total:
            click.echo(f"  {done}/{total} customers", err=True)

    click.echo("adding a busy shop's last six months (200 customers)...", err=True)
    with rt.transaction() as session:
        program, _ = rt.program(session)
        made = demo_history.add_history(session, program, config, rt.clock(), progress=progress)
    if made.customers:
        click.echo(f"{made.customers} sample customers added with {made.purchases:,} purchases, "
                   f"{made.redemptions:,} rewards used, {made.referred} referrals and {made.answers} survey answers")
    else:
        click.echo("the busy shop's customers were already there")


@click.group(cls=AppGroup)
def program() -> None:
    """Program files (TOML)."""


@command("check", group=program)
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def program_check(path: Path) -> None:
    """Validate a program file without loading it."""
    config = load_program_file(path)
    click.echo(f'{path}: OK ("{config.name}", {len(config.tiers)} tiers, {len(config.rewards)} rewards)')


@command("load", group=program)
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def program_load(path: Path) -> None:
    """Load or reload a program file into the database (rewards that left it are retired)."""
    loaded = runtime().load_program_file(str(path))
    click.echo(f'program "{loaded.name}" ({loaded.slug}) loaded')


COMMANDS: tuple[click.Command, ...] = (demo_command, program)
