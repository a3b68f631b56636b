"""``loyalty outbox ...``: the operator's hand on the outbox (after a long provider outage,
queue again what failed or went stale)."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from rewards import outbox
from rewards.promotions.audiences import CHANNELS
from web.cli.support import command
from web.runtime import runtime


@click.group("outbox", cls=AppGroup)
def outbox_group() -> None:
    """Messages waiting to be sent, and those that could not be."""


@command("retry", group=outbox_group)
@click.option("--channel", type=click.Choice(CHANNELS), help="Only messages of this channel.")
@click.option("--campaign", "campaign_id", type=click.IntRange(min=1), metavar="ID",
              help="Only the messages of this campaign.")
@click.option("--status", type=click.Choice(("failed", "skipped")), default="failed", show_default=True,
              help="failed: refused or given up on; skipped: skipped as stale (too old to send).")
def retry_command(channel: str | None, campaign_id: int | None, status: str) -> None:
    """Queue failed (or stale) messages again, to be sent from now (and due from now: a
    stale one gets a fresh window before it is stale again)."""
    rt = runtime()
    with rt.transaction() as session:
        program, _ = rt.program(session)
        queued = outbox.requeue(session, program.id, rt.clock(), status=status, channel=channel,
                                campaign_id=campaign_id)
    what = "failed" if status == "failed" else "skipped as stale"
    where = "".join([f" on {channel}" if channel else "", f" of campaign {campaign_id}" if campaign_id else ""])
    if not queued:
        click.echo(f"nothing to retry: no message{where} {what}")
        return
    click.echo(f"queued again: {queued} message{'s' if queued != 1 else ''}{where} {what} before; "
               "the sender takes them from now")


COMMANDS: tuple[click.Command, ...] = (outbox_group,)
