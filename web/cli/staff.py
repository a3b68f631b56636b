"""Staff operations from the shell: purchase, refund, redeem, adjust, member."""
from __future__ import annotations

import json
import uuid

import click
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from bot.notices import for_events
from rewards import earning, ledger, members, redemption
from rewards.earning import from_minor
from rewards.events import Event
from rewards.localtime import show
from rewards.phones import mask
from rewards.standing import standing
from web.cli.support import SIGNED_NUMBERS, command
from web.inbox import notify
from web.runtime import runtime


def _echo_events(session: Session, events: list[Event]) -> None:
    """Show the member's messages and queue them for their chat (the channel they last wrote
    from); the senders are woken when the transaction commits."""
    rt = runtime()
    for member, reply in for_events(session, events):
        click.echo(f"  message to member {member.code}: {reply.text}")
    if not events:
        return
    queued = notify(session, events, rt.clock(), rt.enabled_channels)
    click.echo(f"  queued {queued} chat message(s), each on the channel its member last wrote from" if queued
               else "  no chat message queued: the member has not written on a channel that is on")


@command("purchase", context_settings=SIGNED_NUMBERS)
@click.argument("customer")
@click.argument("amount")
@click.option("--receipt", "receipt_id", required=True, help="Receipt id; the same receipt never earns twice.")
@click.option("--staff", default="cli", show_default=True, help="Who is recording it (kept in the ledger).")
def purchase_command(customer: str, amount: str, receipt_id: str, staff: str) -> None:
    """Record a purchase of AMOUNT for CUSTOMER (phone or member code)."""
    if amount.strip().startswith("-"):
        raise click.ClickException(f"a purchase amount is never negative (got {amount}): to take back the points "
                                   f"of a returned purchase, use `loyalty refund RECEIPT`")
    rt = runtime()
    with rt.transaction() as session:
        program, config = rt.program(session)
        member = members.find(session, program.id, customer, config.phone_region)
        result = earning.record_purchase(session, program, config, member, amount, receipt_id, rt.clock(), actor=staff)
        shown = f"{from_minor(result.purchase.amount_minor, program.currency)} {program.currency}"
        if not result.created:
            click.echo(f"receipt {receipt_id} was already recorded ({shown}, {result.points} points): nothing earned again")
            return
        click.echo(f"recorded {shown} for member {member.code}: +{result.points} points, balance {result.member.balance}")
        _echo_events(session, result.events)


@command("refund")
@click.argument("receipt_id")
@click.option("--staff", default="cli", show_default=True)
def refund_command(receipt_id: str, staff: str) -> None:
    """Refund a purchase: take back the points it earned."""
    rt = runtime()
    with rt.transaction() as session:
        program, config = rt.program(session)
        result = earning.refund(session, program, config, receipt_id, rt.clock(), actor=staff)
        click.echo(
            f"refunded receipt {receipt_id}: -{result.points} points for member {result.member.code},"
            f" balance {result.member.balance}"
        )
        _echo_events(session, result.events)


@command("redeem")
@click.argument("code")
@click.option("--check", "check_only", is_flag=True, help="Only show what the code is for; do not use it.")
@click.option("--staff", default="cli", show_default=True, help="Who is redeeming (wrong codes are throttled per staff).")
def redeem_command(code: str, check_only: bool, staff: str) -> None:
    """Use a redemption CODE once. Exit status 1 if refused (used, expired, unknown)."""
    rt = runtime()
    with rt.transaction() as session:
        program, _ = rt.program(session)
        act = redemption.check if check_only else redemption.use
        result = act(session, program.id, code, rt.clock(), f"staff:{staff}")
        reward = result.code.reward.name if result.code else None
        member_code = result.code.member.code if result.code else None
    # Committed even when refused: a wrong code counts toward the throttle.
    if result.refused:
        raise click.ClickException(f"refused: {result.message}")
    verb = "valid" if check_only else "redeemed"
    click.echo(f"{verb}: {reward} (member {member_code})")


@command("adjust", context_settings=SIGNED_NUMBERS)
@click.argument("customer")
@click.argument("points", type=int)
@click.option("--reason", required=True, help="Why: kept in the ledger and shown in the member's history.")
@click.option("--key", default=None, help="Idempotency key (default: one per call).")
@click.option("--staff", default="cli", show_default=True)
def adjust_command(customer: str, points: int, reason: str, key: str | None, staff: str) -> None:
    """Add (or with a negative number, remove) POINTS for CUSTOMER, with a reason."""
    rt = runtime()
    with rt.transaction() as session:
        program, config = rt.program(session)
        member = members.find(session, program.id, customer, config.phone_region)
        earning.adjust(session, member, points, reason, f"adjust:{key or uuid.uuid4().hex}", rt.clock(), f"staff:{staff}")
        click.echo(f"adjusted member {member.code} by {points:+d}: balance {member.balance}")


@click.group(cls=AppGroup)
def member() -> None:
    """Look up members."""


@command("show", group=member)
@click.argument("customer")
@click.option("--json", "as_json", is_flag=True, help="Everything we hold about the member, as JSON.")
def member_show(customer: str, as_json: bool) -> None:
    """Show a member's balance, tier and recent activity."""
    rt = runtime()
    now = rt.clock()
    with rt.transaction() as session:
        program, config = rt.program(session)
        found = members.find(session, program.id, customer, config.phone_region)
        if as_json:
            click.echo(json.dumps(members.export(session, found), indent=2, ensure_ascii=False))
            return
        progress = standing(session, config, found, now).progress
        click.echo(f"member {found.code}  phone {mask(found.phone)}  language {found.language}")
        click.echo(f"balance {found.balance} points, tier {progress.tier.name}"
                   + (f" ({progress.points_to_next} to {progress.next_tier.name})" if progress.next_tier else ""))
        for entry in ledger.history(session, found.id, 10):
            click.echo(f"  {show(entry.created_at, config.timezone)}  {entry.amount:+6d}  {entry.reason}")


COMMANDS: tuple[click.Command, ...] = (purchase_command, refund_command, redeem_command, adjust_command, member)
