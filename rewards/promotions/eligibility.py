"""Who of an audience may get a campaign message, where, and when, or why not.

One SQL query a chunk (``candidates``) returns each member of the audience with what the
rules need, worked out by the database: the identity to write to (the reachable one, on a
channel that is on, not opted out or stopped, the member last wrote from), whether any
reachable identity exists at all, and the campaign messages queued to them in the trailing
week. ``decide`` then applies the rules in a fixed order, so a member has one reason:

    no_consent       the member said no to promotions
    opted_out        every reachable address of theirs is opted out or sent STOP
    no_channel       no address on a channel that is on (none, unreachable, or channel off)
    over_cap         already ``max_per_member_per_week`` campaign messages in 7 days
    whatsapp_window  WhatsApp, last message from them over 24 hours before the send time,
                     and no approved template in the program file

Quiet hours are not a reason: the message is queued to go when they end in the
recipient's own zone (``members.timezone``, from their phone number at sign-up; else the
program's).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, aliased

from rewards.localtime import quiet_hours_end, zone_for_phone
from rewards.models import SKIP_REASONS, CampaignRecipient, Identity, Member
from rewards.program.config import ProgramConfig
from rewards.promotions import audiences

WEEK = timedelta(days=7)
WHATSAPP_WINDOW = timedelta(hours=24)
CHUNK = 2000


@dataclass(frozen=True)
class Rules:
    """What the eligibility of one send depends on, fixed for a whole run."""

    program_id: int
    zone: str  # the program's
    quiet: tuple[time, time] | None
    weekly_cap: int
    channels: tuple[str, ...]  # on, and allowed by the audience's channel filter
    whatsapp_template: bool
    at: datetime  # when the messages are due

    @classmethod
    def of(cls, program_id: int, config: ProgramConfig, audience: dict[str, Any], channels: Any,
           at: datetime) -> Rules:
        return cls(program_id, config.timezone, config.quiet_hours, config.promotions.max_per_member_per_week,
                   tuple(audiences.channels_of(audience, list(channels))),
                   bool(config.whatsapp.notice_template_sid), at)


@dataclass(frozen=True, slots=True)
class Decision:
    member_id: int
    reason: str | None  # None: send
    channel: str | None = None
    address: str | None = None
    available_at: datetime | None = None  # later than ``at`` when quiet hours hold it back


def candidates(audience: dict[str, Any], rules: Rules, after_member_id: int, limit: int) -> Any:
    """The next ``limit`` audience members with id above ``after_member_id`` (keyset
    pagination: each chunk is an index range, whatever the audience's size)."""
    usable = (Identity.member_id == Member.id) & Identity.channel.in_(rules.channels) & Identity.unreachable_at.is_(None)
    willing = Identity.marketing_opt_out.is_(False) & Identity.stopped_at.is_(None)
    best = (
        select(Identity.id).where(usable, willing)
        .order_by(Identity.last_seen_at.desc(), Identity.id.desc()).limit(1)
        .correlate(Member).scalar_subquery()
    )
    queued_this_week = (
        select(func.count(CampaignRecipient.id))
        .where(CampaignRecipient.member_id == Member.id, CampaignRecipient.status == "queued",
               CampaignRecipient.created_at > rules.at - WEEK)
        .correlate(Member).scalar_subquery()
    )
    inner = select(
        Member.id.label("member_id"), Member.phone.label("phone"), Member.timezone.label("timezone"),
        Member.marketing_consent.label("consent"),
        best.label("identity_id"), exists().where(usable).label("reachable"), queued_this_week.label("queued_week"),
    ).where(audiences.member_filter(audience, rules.program_id, rules.at, rules.zone), Member.id > after_member_id)
    page = inner.order_by(Member.id).limit(limit).subquery()
    chosen = aliased(Identity)
    return (
        select(page, chosen.channel, chosen.address, chosen.last_seen_at)
        .outerjoin(chosen, chosen.id == page.c.identity_id)
        .order_by(page.c.member_id)
    )


def decide(row: Any, rules: Rules) -> Decision:
    if not row.consent:
        return Decision(row.member_id, "no_consent")
    if row.identity_id is None:
        return Decision(row.member_id, "opted_out" if row.reachable else "no_channel")
    if row.queued_week >= rules.weekly_cap:
        return Decision(row.member_id, "over_cap")
    send_at = rules.at
    if rules.quiet is not None:
        zone = row.timezone or zone_for_phone(row.phone, rules.zone)  # a member from before the column
        send_at = quiet_hours_end(rules.at, zone, rules.quiet) or rules.at
    if row.channel == "whatsapp" and not rules.whatsapp_template and (
        row.last_seen_at is None or row.last_seen_at <= send_at - WHATSAPP_WINDOW
    ):
        return Decision(row.member_id, "whatsapp_window")
    return Decision(row.member_id, None, row.channel, row.address, send_at)


def stream(session: Session, audience: dict[str, Any], rules: Rules, chunk: int = CHUNK) -> Iterator[list[Decision]]:
    """Every audience member's decision, a chunk at a time (preview: nothing is written)."""
    after = 0
    while True:
        rows = session.execute(candidates(audience, rules, after, chunk)).all()
        if not rows:
            return
        yield [decide(row, rules) for row in rows]
        after = rows[-1].member_id


@dataclass
class Preview:
    matching: int = 0  # members the audience's filters select
    sending: int = 0  # would be queued
    waiting: int = 0  # of those, held until quiet hours end in their zone
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))


def preview(session: Session, audience: dict[str, Any], rules: Rules) -> Preview:
    """What a send at ``rules.at`` would do, counted by the same rules as the fan-out."""
    result = Preview()
    for decisions in stream(session, audience, rules):
        for d in decisions:
            result.matching += 1
            if d.reason:
                result.skipped[d.reason] += 1
            else:
                result.sending += 1
                result.waiting += bool(d.available_at and d.available_at > rules.at)
    return result
