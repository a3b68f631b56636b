"""Helpers for the campaign tests: members on chosen channels in chosen states, campaigns
created as a merchant would, and what the outbox and recipients tables hold."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from support import T0

from rewards import ledger
from rewards.models import Campaign, CampaignRecipient, Identity, Member, OutboxMessage, Program, Tier
from rewards.program.config import ProgramConfig
from rewards.promotions import campaigns
from rewards.promotions.fanout import Progress, fan_out

CHANNELS = ("telegram", "whatsapp", "sms")


def add_member(
    session: Session, join: Callable[..., Member], *, channel: str = "telegram", address: str | None = None,
    phone: str | None = None, consent: bool = True, opted_out: bool = False, stopped: bool = False,
    unreachable: bool = False, last_seen: datetime | None = None, language: str = "en", now: datetime = T0,
    tier: str | None = None, **changes: Any,
) -> Member:
    """A member who joined on ``channel`` and is then put in the state the test needs."""
    member = join(phone, channel=channel, address=address, language=language, now=now)
    identity = session.scalars(select(Identity).where(Identity.member_id == member.id)).one()
    member.marketing_consent = consent
    identity.marketing_opt_out = opted_out
    identity.stopped_at = now if stopped else None
    identity.unreachable_at = now if unreachable else None
    identity.last_seen_at = last_seen or now
    if tier is not None:
        member.tier = session.scalars(select(Tier).where(Tier.program_id == member.program_id, Tier.name == tier)).one()
    balance = changes.pop("balance", None)
    if balance is not None and balance != member.balance:  # through the ledger, so the audit holds
        ledger.post(session, member, balance - member.balance, "adjust", f"test-balance:{member.id}", "test", now)
    for name, value in changes.items():
        setattr(member, name, value)
    session.flush()
    return member


def add_identity(session: Session, member: Member, channel: str, address: str, now: datetime = T0,
                 **fields: Any) -> Identity:
    identity = Identity(program_id=member.program_id, channel=channel, address=address, member_id=member.id,
                        first_seen_at=now, last_seen_at=fields.pop("last_seen_at", now), **fields)
    session.add(identity)
    session.flush()
    return identity


def make_campaign(session: Session, program: Program, config: ProgramConfig, now: datetime = T0,
                  **given: Any) -> Campaign:
    given.setdefault("name", "Spring promo")
    given.setdefault("text", "Hello from Bean There!")
    if not any(given.get(k) for k in ("send_at", "cron_expression")):
        given.setdefault("send_now", True)
    draft = campaigns.draft(session, session.get(Program, program.id), config, now, **given)
    return campaigns.create(session, session.get(Program, program.id), config, draft, now, "test")


def run(session: Session, campaign: Campaign, now: datetime = T0, channels: Any = CHANNELS, **kwargs: Any) -> Progress:
    """The whole due run, a chunk at a time, committing between chunks as the CLI does."""
    total = Progress(campaign.id)
    while True:
        step = fan_out(session, campaign, now, channels, **kwargs)
        session.commit()
        total.looked_at += step.looked_at
        total.queued += step.queued
        total.skipped += step.skipped
        total.waiting += step.waiting
        total.run_id = step.run_id or total.run_id
        for reason, n in step.reasons.items():
            total.reasons[reason] = total.reasons.get(reason, 0) + n
        if step.done:
            total.done = True
            return total


def campaign_messages(session: Session, campaign: Campaign | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(OutboxMessage.kind == "campaign").order_by(OutboxMessage.id)
    if campaign is not None:
        query = query.where(OutboxMessage.dedupe_key.like(f"campaign:{campaign.id}:%"))
    return list(session.scalars(query.execution_options(populate_existing=True)))


def recipients(session: Session, campaign: Campaign) -> dict[int, tuple[str, str | None]]:
    """member id -> (status, reason) over every run."""
    rows = session.execute(select(CampaignRecipient.member_id, CampaignRecipient.status, CampaignRecipient.reason)
                           .where(CampaignRecipient.campaign_id == campaign.id))
    return {member_id: (status, reason) for member_id, status, reason in rows}
