"""Fanning a due campaign out to the outbox: one row per recipient, in bulk, once.

``fan_out(session, campaign, now, channels)`` runs the campaign's due run: it streams the
audience in chunks (keyset pagination on member id), decides each member
(rewards/promotions/eligibility.py), issues coupon codes, queues the messages with
``outbox.enqueue_many`` and records every recipient, queued or skipped with its reason.
With ``limit`` it stops after that many members and says whether the run is done; the
caller commits between calls, so a big audience never holds one long transaction (on
SQLite the write lock) and a run stopped half-way resumes from the run's ``cursor``.

Running it twice sends nothing twice: a run is unique on (campaign, scheduled time); fan-outs
of one program take turns on the program's row lock and each chunk moves the run's cursor
in its own transaction, so the next turn starts after it; and should that ever fail, the
database refuses a second copy (recipients are UNIQUE per run and member, a message's
dedupe key ``campaign:<campaign>:<run>:<member>`` is UNIQUE in the outbox). Taking turns
also keeps the weekly cap exact when two campaigns, or two clocks, fan out at once.

Takes ``session`` and ``now``; never commits. The clock calls ``campaigns.due`` and then
this; ``loyalty campaign send-due`` does the same by hand.
"""
from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from rewards import members, outbox
from rewards.codes import display
from rewards.errors import Inconsistent, Refused
from rewards.models import Campaign, CampaignRecipient, CampaignRun, Identity, Member, OutboxMessage, Program
from rewards.program.programs import config_of
from rewards.promotions import audiences, cron
from rewards.promotions.campaigns import dedupe_key, dedupe_prefix
from rewards.promotions.eligibility import CHUNK, Decision, Rules, candidates, decide
from rewards.promotions.offers import Coupon, issue_coupons
from rewards.storage.bulk import insert_many

TEST_CODE = "TEST-CODE-XXXXX"
# Channels whose address is the customer's E.164 phone, where a phone alone can be written to.
PHONE_CHANNELS = ("whatsapp", "sms", "web")
DRAFT_TEST_PREFIX = "campaign-draft:test:"


@dataclass
class Progress:
    campaign_id: int
    run_id: int | None = None
    looked_at: int = 0  # audience members decided by this call
    queued: int = 0
    skipped: int = 0
    waiting: int = 0  # of the queued, held back until quiet hours end
    done: bool = False  # the run is complete (or nothing was due)
    reasons: dict[str, int] = field(default_factory=dict)


def payload(campaign: Campaign, coupon: Coupon | None = None, test: bool = False) -> dict[str, Any]:
    """The outbox payload (bot/outbox_payload.py's format). A coupon's code replaces
    ``{code}`` in the text (or follows it) and its QR is the image; otherwise the image is
    the campaign's picture, by address (``kind`` "url")."""
    text = campaign.text
    image: dict[str, str] | None = None
    if campaign.image_url:
        image = {"kind": "url", "data": campaign.image_url,
                 "filename": campaign.image_url.rstrip("/").rsplit("/", 1)[-1][:100] or "image"}
    if coupon is not None or (test and campaign.offer_kind == "coupon"):
        shown = display(coupon.code) if coupon else TEST_CODE
        text = text.replace("{code}", shown) if "{code}" in text else f"{text}\n\n{shown}"
        if coupon is not None:
            image = {"kind": "qr", "data": coupon.code, "filename": f"code-{coupon.code}.png"}
    if test:
        text = f"[TEST] {text}"
    return {"text": text, "buttons": [], "image": image, "hint": None, "campaign_id": campaign.id}


def _lock(session: Session, campaign: Campaign) -> None:
    """Fan-outs of one program take turns. FOR NO KEY UPDATE: rows referencing the program
    (a purchase, an outbox row) only take KEY SHARE on it, so they do not wait for us. The
    campaign's own row too, so a cancel waits for the chunk in hand and the next one sees it."""
    session.execute(select(Program.id).where(Program.id == campaign.program_id).with_for_update(key_share=True))
    session.refresh(campaign, with_for_update=True)


def _run(session: Session, campaign: Campaign, now: datetime) -> CampaignRun:
    insert_many(session, CampaignRun.__table__, [{
        "program_id": campaign.program_id, "campaign_id": campaign.id, "scheduled_for": campaign.next_run_at,
        "started_at": now, "cursor": 0,
    }], conflict=("campaign_id", "scheduled_for"))
    # populate_existing: under the lock, the cursor another clock just committed, not the
    # value this session last saw (the cursor is what keeps two clocks off the same members).
    return session.scalars(
        select(CampaignRun).where(CampaignRun.campaign_id == campaign.id,
                                  CampaignRun.scheduled_for == campaign.next_run_at)
        .execution_options(populate_existing=True)
    ).one()


def fan_out(session: Session, campaign: Campaign, now: datetime, channels: Collection[str], *,
            limit: int | None = None, chunk: int = CHUNK) -> Progress:
    """Fan out (part of) the campaign's due run. ``channels`` are the channels that are on.
    Returns at once with ``done`` when the campaign is not due, sent or cancelled."""
    _lock(session, campaign)
    progress = Progress(campaign.id)
    if campaign.status not in ("scheduled", "sending") or campaign.next_run_at is None or campaign.next_run_at > now:
        progress.done = True
        return progress
    program = session.get(Program, campaign.program_id)
    if program is None:
        raise Inconsistent("program is missing")
    config = config_of(program)
    run = _run(session, campaign, now)
    progress.run_id = run.id
    campaign.status = "sending"
    rules = Rules.of(program.id, config, campaign.audience, channels, now)
    while limit is None or progress.looked_at < limit:
        size = chunk if limit is None else min(chunk, limit - progress.looked_at)
        rows = session.execute(candidates(campaign.audience, rules, run.cursor, size)).all()
        if rows:
            _write(session, campaign, run, [decide(row, rules) for row in rows], now, progress)
            run.cursor = rows[-1].member_id
            progress.looked_at += len(rows)
        if len(rows) < size:
            _finish(campaign, run, config.timezone, now)
            progress.done = True
            break
    session.flush()
    return progress


def _write(session: Session, campaign: Campaign, run: CampaignRun, decisions: list[Decision], now: datetime,
           progress: Progress) -> None:
    send = [d for d in decisions if d.reason is None]
    coupons: dict[int, Coupon] = {}
    if campaign.offer_kind == "coupon" and campaign.reward is not None and send:
        coupons = issue_coupons(session, campaign.program_id, campaign.reward, [d.member_id for d in send], now)
    progress.queued += outbox.enqueue_many(session, (
        {"program_id": campaign.program_id, "channel": d.channel, "address": d.address, "kind": "campaign",
         "payload": payload(campaign, coupons.get(d.member_id)), "member_id": d.member_id,
         "dedupe_key": dedupe_key(campaign.id, run.id, d.member_id), "available_at": d.available_at}
        for d in send
    ), now)
    progress.waiting += sum(1 for d in send if d.available_at and d.available_at > now)
    for d in decisions:
        if d.reason:
            progress.skipped += 1
            progress.reasons[d.reason] = progress.reasons.get(d.reason, 0) + 1
    # A plain INSERT, not ON CONFLICT: under the program lock a clash cannot happen, and if
    # one did, failing the whole chunk (coupons included) is right.
    insert_many(session, CampaignRecipient.__table__, [
        {"program_id": campaign.program_id, "campaign_id": campaign.id, "run_id": run.id, "member_id": d.member_id,
         "status": "skipped" if d.reason else "queued", "reason": d.reason, "channel": d.channel,
         "code_id": coupons[d.member_id].code_id if d.member_id in coupons else None, "created_at": now}
        for d in decisions
    ])


def _finish(campaign: Campaign, run: CampaignRun, zone: str, now: datetime) -> None:
    run.finished_at = now
    campaign.last_run_at = now
    upcoming = cron.next_run(campaign.cron, max(now, run.scheduled_for), zone) if campaign.cron else None
    campaign.next_run_at = upcoming
    # A missed cron time is not made up: the next run is the next time after now.
    campaign.status = "scheduled" if upcoming else "sent"


def send_test(session: Session, campaign: Campaign, member: Member, now: datetime,
              channels: Collection[str]) -> OutboxMessage:
    """Queue the campaign's text, marked ``[TEST]``, to one member now: outside the weekly
    cap, quiet hours and counts, with a sample code instead of issuing a coupon."""
    allowed = audiences.channels_of(campaign.audience, list(channels))
    identity = members.notice_identity(session, member, allowed)
    if identity is None:
        raise Refused(f"member {member.code} has no reachable address on {', '.join(allowed) or 'any channel that is on'}",
                      reason="no_channel")
    if not member.marketing_consent or identity.marketing_opt_out:
        raise Refused(f"member {member.code} does not accept promotions", reason="no_consent")
    queued = outbox.enqueue(
        session, member.program_id, identity.channel, identity.address, payload(campaign, test=True), "campaign", now,
        member_id=member.id, dedupe_key=f"{dedupe_prefix(campaign.id)}test:{uuid.uuid4().hex}",
    )
    if queued is None:  # a fresh key
        raise Inconsistent("queued is missing")
    return session.get_one(OutboxMessage, queued)


def send_test_to_phone(session: Session, campaign: Campaign, phone: str, now: datetime,
                       channels: Collection[str]) -> OutboxMessage:
    """Queue the campaign's text, marked ``[TEST]``, to a staff user's own ``phone`` (E.164),
    never to the audience: the console's "test send to yourself". ``campaign`` may be a draft
    not saved yet (no id). The channel is the one the campaign would use for that person:
    when the phone is a member's, where they last wrote from (as ``send_test``); otherwise
    the first channel on, allowed by the audience, that writes to a phone number. An address
    that sent STOP or that the provider called unreachable is refused, as for a member."""
    allowed = audiences.channels_of(campaign.audience or {}, list(channels))
    member = members.by_phone(session, campaign.program_id, phone)
    identity = members.notice_identity(session, member, allowed) if member is not None else None
    if identity is not None:
        channel, address = identity.channel, identity.address
    else:
        found = next((c for c in allowed if c in PHONE_CHANNELS), None)
        if found is None:
            raise Refused(f"no channel of this campaign writes to a phone number (channels: {', '.join(allowed) or 'none'})",
                          reason="no_channel")
        channel, address = found, phone
        blocked = session.scalar(select(Identity.id).where(
            Identity.program_id == campaign.program_id, Identity.channel == channel, Identity.address == address,
            or_(Identity.stopped_at.is_not(None), Identity.unreachable_at.is_not(None))).limit(1))
        if blocked is not None:
            raise Refused(f"{channel} does not reach this phone (it sent STOP, or the provider said it is unreachable)",
                          reason="no_channel")
    prefix = dedupe_prefix(campaign.id) + "test:" if campaign.id is not None else DRAFT_TEST_PREFIX
    queued = outbox.enqueue(
        session, campaign.program_id, channel, address, payload(campaign, test=True), "campaign", now,
        member_id=member.id if member is not None else None, dedupe_key=f"{prefix}{uuid.uuid4().hex}",
    )
    if queued is None:  # a fresh key
        raise Inconsistent("queued is missing")
    return session.get_one(OutboxMessage, queued)
