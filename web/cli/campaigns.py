"""``loyalty campaign ...``: promotions from the shell (create, list, show, preview,
test-send, cancel, send-due). Times are the program's wall time, like "2026-12-05 10:00"."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from flask.cli import AppGroup

from rewards import members
from rewards.localtime import show
from rewards.models import Campaign
from rewards.promotions import audiences, campaigns
from rewards.promotions.campaign_stats import counts
from rewards.promotions.eligibility import Preview, Rules, preview
from rewards.promotions.fanout import send_test
from scheduler import campaigns as runs
from scheduler.campaigns import RunTotals
from web.cli.support import command, named_as_options
from web.runtime import runtime

# The campaign fields, as the domain and the API name them, and the options that give them
# (name and text are plain words in messages too, and their options say the same).
OPTIONS = {"image_url": "--image", "audience": "--audience", "send_at": "--at", "cron": "--cron", "now": "--now",
           "multiplier": "--multiplier", "offer_from": "--from", "offer_until": "--until", "coupon": "--coupon"}

REASONS = {
    "no_consent": "no marketing consent",
    "opted_out": "opted out (or sent STOP)",
    "no_channel": "no reachable channel",
    "over_cap": "over the weekly cap",
    "whatsapp_window": "WhatsApp 24-hour window, no template",
}


@click.group(cls=AppGroup)
def campaign() -> None:
    """Promotions: create, preview, send and measure campaigns."""


def _schedule_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--audience", default="all", show_default=True,
                     help='Filters joined by commas, e.g. "tier=Gold,channel=telegram,inactive_days=30".'),
        click.option("--at", "send_at", metavar="TIME", help='Send once at this time, e.g. "2026-12-05 10:00".'),
        click.option("--cron", "cron_expression", metavar="EXPR", help='Recurring, e.g. "0 10 * * SAT".'),
        click.option("--now", "send_now", is_flag=True, help="Send at once."),
        click.option("--multiplier", metavar="FACTOR", help="Points multiplier offer, e.g. 2 for double points."),
        click.option("--from", "offer_from", metavar="TIME", help="Multiplier starts (a date means its midnight)."),
        click.option("--until", "offer_until", metavar="TIME", help="Multiplier ends (a date means through that day)."),
        click.option("--coupon", metavar="REWARD", help="Give each recipient a free code for this reward id."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _echo_preview(result: Preview) -> None:
    click.echo(f"  matching members      {result.matching:>8,}")
    click.echo(f"  would be sent         {result.sending:>8,}"
               + (f"  ({result.waiting:,} wait for quiet hours to end)" if result.waiting else ""))
    for reason, label in REASONS.items():
        click.echo(f"  skipped: {label:<38} {result.skipped.get(reason, 0):>8,}")


def _summary(campaign: Campaign, zone: str) -> str:
    schedule = f"cron {campaign.cron} ({zone})" if campaign.cron else f"at {show(campaign.send_at, zone)}"
    offer = ""
    if campaign.offer_kind == "multiplier":
        offer = (f", {campaign.multiplier_permille / 1000:g}x points {show(campaign.offer_starts_at, zone)}"
                 f" to {show(campaign.offer_ends_at, zone)}")
    elif campaign.offer_kind == "coupon" and campaign.reward is not None:
        offer = f", coupon {campaign.reward.slug}"
    audience = audiences.describe(campaign.audience)
    return f'campaign {campaign.id} "{campaign.name}": {campaign.status}, audience {audience}, {schedule}{offer}'


def _progress(totals: RunTotals) -> None:
    click.echo(f"  campaign {totals.campaign_id}: {totals.looked_at:,} members done, {totals.queued:,} queued,"
               f" {totals.skipped:,} skipped")


def _finished(totals: RunTotals) -> None:
    if totals.failed or totals.retry:
        why = f"failed: {totals.failed}" if totals.failed else f"database error, try again: {totals.retry}"
        click.echo(f'campaign {totals.campaign_id} "{totals.name}" {why}')
        return
    reasons = ", ".join(f"{REASONS.get(r, r)} {n:,}" for r, n in sorted(totals.reasons.items()))
    plural = "" if totals.queued == 1 else "s"
    click.echo(f'campaign {totals.campaign_id} "{totals.name}": {totals.queued:,} message{plural} queued'
               + (f" ({totals.waiting:,} wait for quiet hours)" if totals.waiting else "")
               + f", {totals.skipped:,} skipped" + (f" ({reasons})" if reasons else ""))


@command("create", group=campaign)
@click.option("--name", required=True, help="For you: shown in lists and counts.")
@click.option("--text", required=True, help="The message. With --coupon, {code} is replaced by the member's code.")
@click.option("--image", "image_url", metavar="URL", help="A picture to send with it (https address).")
@_schedule_options
@click.option("--staff", default="cli", show_default=True, help="Who created it (kept on the campaign).")
@named_as_options(OPTIONS)
def create_command(name: str, text: str, image_url: str | None, staff: str, **given: Any) -> None:
    """Create a campaign; with --now it is sent at once."""
    rt = runtime()
    now = rt.clock()
    with rt.transaction() as session:
        program, config = rt.program(session)
        checked = campaigns.draft(session, program, config, now, name=name, text=text, image_url=image_url, **given)
        created = campaigns.create(session, program, config, checked, now, f"staff:{staff}")
        click.echo("created " + _summary(created, config.timezone))
        if not given["send_now"]:
            click.echo(f"  next run {show(created.next_run_at, config.timezone)};"
                       f" see who it reaches: loyalty campaign preview {created.id}")
        campaign_id = created.id
    if given["send_now"]:
        _finished(runs.run_alone(rt.sessions, campaign_id, rt.clock, rt.enabled_channels, on_progress=_progress))


@command("list", group=campaign)
def list_command() -> None:
    """The newest campaigns first."""
    rt = runtime()
    with rt.transaction() as session:
        program, config = rt.program(session)
        found = campaigns.listing(session, program.id)
        if not found:
            click.echo("no campaigns yet: loyalty campaign create --help")
        for c in found:
            when = show(c.next_run_at or c.last_run_at or c.send_at, config.timezone)
            click.echo(f"{c.id:>5}  {c.status:<9}  {when:<22}  {c.name}  [{audiences.describe(c.audience)}]")


@command("show", group=campaign)
@click.argument("campaign_id")
def show_command(campaign_id: str) -> None:
    """A campaign and its counts: targeted, queued, sent, delivered, failed, skipped, converted."""
    rt = runtime()
    with rt.transaction() as session:
        program, config = rt.program(session)
        found = campaigns.get(session, program.id, campaign_id)
        zone = config.timezone
        click.echo(_summary(found, zone))
        if found.status == "failed":
            click.echo(f"  failed {show(found.failed_at, zone)}: {found.failed_reason}")
        click.echo(f"  text: {found.text}")
        click.echo(f"  created {show(found.created_at, zone)} by {found.created_by}; last run {show(found.last_run_at, zone)};"
                   f" next run {show(found.next_run_at, zone)}")
        c = counts(session, found, config.promotions.conversion_days)
        click.echo(f"  targeted {c.targeted:,}  queued {c.queued:,}  waiting {c.waiting:,}  sent {c.sent:,}"
                   f"  delivered {c.delivered:,}  failed {c.failed:,}  skipped {c.skipped_total:,}")
        for reason, n in c.skipped.items():
            if n:
                click.echo(f"    skipped: {REASONS.get(reason, reason)}: {n:,}")
        rate = f" ({c.converted / c.sent:.0%} of sent)" if c.sent else ""
        click.echo(f"  converted {c.converted:,}{rate}: purchased or redeemed within {c.conversion_days} days")


@command("preview", group=campaign)
@click.argument("campaign_id", required=False)
@_schedule_options
@named_as_options(OPTIONS)
def preview_command(campaign_id: str | None, **given: Any) -> None:
    """How many members a campaign reaches and who would be skipped, and why.
    Give a campaign id, or the same options as create to look before creating."""
    rt = runtime()
    now = rt.clock()
    with rt.transaction() as session:
        program, config = rt.program(session)
        if campaign_id is not None:
            found = campaigns.get(session, program.id, campaign_id)
            audience, at = found.audience, max(found.next_run_at or now, now)
            click.echo(_summary(found, config.timezone))
        else:
            if not any(given[k] for k in ("send_at", "cron_expression")):
                given["send_now"] = True
            checked = campaigns.draft(session, program, config, now, name="preview", text="preview", **given)
            audience, at = checked.audience, checked.first_run(now, config.timezone)
            click.echo(f"audience {audiences.describe(audience)}, sent {show(at, config.timezone)}")
        rules = Rules.of(program.id, config, audience, rt.enabled_channels, at)
        click.echo(f"  channels that are on: {', '.join(rules.channels) or 'none'}")
        _echo_preview(preview(session, audience, rules))


@command("test-send", group=campaign)
@click.argument("campaign_id")
@click.option("--to", "to", required=True, metavar="PHONE", help="A member's phone or member code (yours).")
def test_send_command(campaign_id: str, to: str) -> None:
    """Send the campaign, marked [TEST], to one member now (no cap, no counts, no real coupon)."""
    rt = runtime()
    with rt.transaction() as session:
        program, config = rt.program(session)
        found = campaigns.get(session, program.id, campaign_id)
        member = members.find(session, program.id, to, config.phone_region)
        message = send_test(session, found, member, rt.clock(), rt.enabled_channels)
        click.echo(f"test message queued for member {member.code} on {message.channel}")


@command("cancel", group=campaign)
@click.argument("campaign_id")
def cancel_command(campaign_id: str) -> None:
    """Stop a campaign: no more runs; messages still waiting are withdrawn."""
    rt = runtime()
    with rt.transaction() as session:
        program, _ = rt.program(session)
        found = campaigns.get(session, program.id, campaign_id)
        withdrawn = campaigns.cancel(session, found, rt.clock())
        click.echo(f'campaign {found.id} "{found.name}" cancelled; {withdrawn:,} waiting messages withdrawn')


@command("send-due", group=campaign)
@click.option("--batch", default=5000, show_default=True, help="Members per transaction.")
def send_due_command(batch: int) -> None:
    """Fan out every campaign that is due now (the clock does this on its own)."""
    rt = runtime()
    with rt.transaction() as session:
        program, _ = rt.program(session)
        program_id = program.id
    done = runs.send_due(rt.sessions, rt.clock, rt.enabled_channels, program_id, batch=max(1, batch),
                         on_progress=_progress)
    if not done:
        click.echo("no campaign is due")
    for totals in done:
        _finished(totals)


COMMANDS: tuple[click.Command, ...] = (campaign,)
