"""Campaigns: a merchant's promotion checked and scheduled, listed, cancelled, and found
when due. Fanning one out to the outbox is rewards/promotions/fanout.py; its counts are
rewards/promotions/campaign_stats.py.

A schedule is once (``send_at``, a wall time in the program's zone, or now) or recurring
(a cron expression in the program's zone, rewards/promotions/cron.py). ``next_run_at`` always holds
the next due instant, so the clock needs one query (``due``). An offer rides on a campaign:
a points multiplier for a window of time (earning applies it, rewards/promotions/offers.py) or a
coupon, a reward issued free to each recipient as a code.

Takes ``session`` and ``now``; never commits. Must not import Flask, APScheduler, ``bot``
or ``channels``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import String, cast, literal, select, update
from sqlalchemy.orm import Session

from rewards import catalog
from rewards.errors import Inconsistent, InvalidInput, LoyaltyError, NotFound, Refused
from rewards.inputs import ascii_decimal, row_id, shown, storable_text
from rewards.localtime import parse_local
from rewards.models import Campaign, CampaignRecipient, Code, OutboxMessage, Program
from rewards.program.config import ProgramConfig
from rewards.promotions import audiences, cron

MAX_TEXT = 1600  # Twilio's limit for one (concatenated) SMS or WhatsApp body
MAX_FACTOR = Decimal("10")
PAST_GRACE = timedelta(minutes=5)  # "--at" a moment ago is a typo of "now", not an error
MIN_CRON_GAP = timedelta(minutes=59)  # recurring campaigns run at most hourly
CANCELLED = "campaign cancelled"
MAX_REASON = 300  # campaigns.failed_reason
MAX_CRON = 100  # campaigns.cron


def dedupe_key(campaign_id: int, run_id: int, member_id: int) -> str:
    """The outbox key of one recipient's message: unique, so a run fanned out twice
    queues each message once."""
    return f"{dedupe_prefix(campaign_id)}{run_id}:{member_id}"


def dedupe_prefix(campaign_id: int) -> str:
    """What the outbox keys of all of one campaign's messages (test sends too) start with."""
    return f"campaign:{campaign_id}:"


def recipient_key() -> Any:
    """``dedupe_key`` as SQL over ``campaign_recipients``, to join a recipient to its
    outbox row through the outbox's unique (program_id, dedupe_key) index."""
    r = CampaignRecipient
    return (literal("campaign:", String) + cast(r.campaign_id, String) + ":" + cast(r.run_id, String)
            + ":" + cast(r.member_id, String))


@dataclass(frozen=True)
class Draft:
    """A campaign checked but not saved: what ``create`` stores and ``preview`` counts."""

    name: str
    text: str
    image_url: str | None
    audience: dict[str, Any]
    send_at: datetime | None
    cron: str | None
    offer_kind: str = "none"
    multiplier_permille: int | None = None
    offer_starts_at: datetime | None = None
    offer_ends_at: datetime | None = None
    reward_id: int | None = None

    def first_run(self, now: datetime, zone: str) -> datetime:
        if self.send_at is not None:
            return self.send_at
        found = cron.next_run(self.cron or "", now, zone)
        if found is None:  # checked in ``draft``
            raise Inconsistent("found is missing")
        return found


def _fail(field: str, message: str) -> InvalidInput:
    return InvalidInput.about(field, f": {message}")


def _text(field: str, value: Any, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(field, "is required (a non-empty text)")
    value = storable_text(field, value.strip())
    if len(value) > limit:
        raise _fail(field, f"is {len(value)} characters; at most {limit}")
    return value


def _factor(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise _fail("multiplier", f"must be a number like 2 or 1.5, got {value!r}")
    try:
        factor = ascii_decimal(str(value).strip().rstrip("xX"))
    except InvalidOperation:
        raise _fail("multiplier", f'must be a number like 2 or 1.5, got "{value}"') from None
    if not factor.is_finite() or factor <= 1 or factor > MAX_FACTOR:
        raise _fail("multiplier", f"must be more than 1 and at most {MAX_FACTOR}, got {value}")
    permille = factor * 1000
    if permille != permille.to_integral_value():
        raise _fail("multiplier", f"has at most 3 decimals, got {value}")
    return int(permille)


def _when(field: str, value: Any, zone: str, end_of_day: bool = False) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise _fail(field, "needs a time zone")
        return value
    if not isinstance(value, str) or not value.strip():
        raise _fail(field, "is required: a date and time like 2026-12-05 10:00 (program's time zone)")
    return parse_local(value, zone, field, end_of_day=end_of_day)


def draft(
    session: Session, program: Program, config: ProgramConfig, now: datetime, *,
    name: Any, text: Any, audience: Any = None, send_at: Any = None, cron_expression: Any = None,
    send_now: bool = False, image_url: Any = None, multiplier: Any = None, offer_from: Any = None,
    offer_until: Any = None, coupon: Any = None,
) -> Draft:
    """Check everything a merchant gave; ``InvalidInput`` names the first wrong field
    (send_at, cron, audience, multiplier, ...). Times are wall times in the program's zone
    unless they carry an offset."""
    zone = config.timezone
    name = _text("name", name, 200)
    text = _text("text", text, MAX_TEXT)
    if image_url is not None:
        image_url = _text("image_url", image_url, 500)
        # https only: WhatsApp and MMS fetch it, and a plain-http picture can be swapped on the way
        if not image_url.lower().startswith("https://") or len(image_url) <= len("https://") or " " in image_url:
            raise _fail("image_url", f'must be a web address starting with https:// (got "{image_url}")')
    checked_audience = audiences.check(audience, config)

    given = [n for n, v in (("send_at", send_at), ("cron", cron_expression), ("now", send_now)) if v]
    if len(given) != 1:
        raise _fail("schedule", "give exactly one of send_at (a time), cron (recurring) or now"
                    + (f"; got {', '.join(given)}" if given else ""))
    when: datetime | None = now if send_now else None
    expression: str | None = None
    if send_at:
        when = _when("send_at", send_at, zone)
        if when < now - PAST_GRACE:
            raise _fail("send_at", f"{send_at} is in the past; use now to send at once")
        when = max(when, now)
    if cron_expression:
        if not isinstance(cron_expression, str) or len(cron_expression) > MAX_CRON:
            raise _fail("cron", f"must be a text of at most {MAX_CRON} characters like \"0 10 * * SAT\"")
        try:
            parsed = cron.parse(cron_expression)
        except InvalidInput as error:
            error.field = "cron"  # a form shows it by the expression's field
            raise
        runs = cron.upcoming(parsed, now, zone, 12)
        if not runs:
            raise _fail("cron", f'"{cron_expression}" never runs')
        if any(b - a < MIN_CRON_GAP for a, b in zip(runs, runs[1:], strict=False)):
            raise _fail("cron", f'"{cron_expression}" runs more often than once an hour')
        expression = parsed.expression

    fields: dict[str, Any] = {}
    if multiplier is not None and coupon is not None:
        raise _fail("offer", "one offer per campaign: a multiplier or a coupon, not both")
    if multiplier is not None:
        if expression:
            raise _fail("multiplier", "has fixed dates, so it cannot ride on a recurring (cron) campaign")
        permille = _factor(multiplier)
        starts = _when("offer_from", offer_from, zone)
        ends = _when("offer_until", offer_until, zone, end_of_day=True)
        if ends <= starts:
            raise _fail("offer_until", "must be after offer_from")
        if ends <= now:
            raise _fail("offer_until", "is in the past")
        fields = dict(offer_kind="multiplier", multiplier_permille=permille, offer_starts_at=starts,
                      offer_ends_at=ends)
    elif offer_from is not None or offer_until is not None:
        raise _fail("multiplier", "offer_from and offer_until need a multiplier (like 2 for double points)")
    if coupon is not None:
        if image_url is not None:
            raise _fail("image_url", "a coupon campaign carries the coupon's QR code as its image; leave image_url out")
        reward = catalog.find_reward(session, program.id, str(coupon))
        if reward is None:
            known = ", ".join(r.slug for r in catalog.active_rewards(session, program.id)) or "none"
            raise _fail("coupon", f'"{coupon}" is not a reward in the catalog (rewards: {known})')
        fields = dict(offer_kind="coupon", reward_id=reward.id)
    return Draft(name, text, image_url, checked_audience, when, expression, **fields)


def create(session: Session, program: Program, config: ProgramConfig, draft: Draft, now: datetime,
           created_by: str) -> Campaign:
    campaign = Campaign(
        program_id=program.id, name=draft.name, text=draft.text, image_url=draft.image_url, audience=draft.audience,
        offer_kind=draft.offer_kind, multiplier_permille=draft.multiplier_permille,
        offer_starts_at=draft.offer_starts_at, offer_ends_at=draft.offer_ends_at, reward_id=draft.reward_id,
        send_at=draft.send_at, cron=draft.cron, status="scheduled",
        next_run_at=draft.first_run(now, config.timezone), created_by=storable_text("staff", created_by[:100]), created_at=now,
    )
    session.add(campaign)
    session.flush()
    return campaign


def get(session: Session, program_id: int, campaign_id: Any) -> Campaign:
    number = row_id(campaign_id)
    campaign = session.get(Campaign, number) if number is not None else None
    if campaign is None or campaign.program_id != program_id:
        raise NotFound(f"no campaign {shown(campaign_id)}", reason="not_found")
    return campaign


def listing(session: Session, program_id: int, limit: int = 100) -> list[Campaign]:
    return list(session.scalars(
        select(Campaign).where(Campaign.program_id == program_id).order_by(Campaign.id.desc()).limit(limit)
    ))


def due(session: Session, now: datetime, program_id: int | None = None) -> list[Campaign]:
    """Campaigns whose next run is due (and any run stopped half-way), oldest first."""
    query = select(Campaign).where(Campaign.status.in_(("scheduled", "sending")), Campaign.next_run_at <= now)
    if program_id is not None:
        query = query.where(Campaign.program_id == program_id)
    return list(session.scalars(query.order_by(Campaign.next_run_at, Campaign.id)))


def failure(error: BaseException) -> str:
    """Why a run failed, in one line for the merchant: a refusal's own message, else the
    error's kind and first line. Never the SQL or its parameters (they may hold addresses)."""
    if isinstance(error, LoyaltyError):
        return str(error)[:MAX_REASON]
    cause = getattr(error, "orig", None) or error  # a database error's driver message, without the statement
    first = (str(cause).strip().splitlines() or [""])[0]
    return f"{type(cause).__name__}: {first}"[:MAX_REASON] if first else type(cause).__name__


def fail(session: Session, campaign: Campaign, reason: str, now: datetime) -> bool:
    """Stop a campaign whose run cannot go on: status ``failed`` with the reason, no further
    runs. What earlier chunks of the run queued stays queued (``cancel`` withdraws it).
    False when it was cancelled or finished meanwhile."""
    session.refresh(campaign, with_for_update=True)
    if campaign.status not in ("scheduled", "sending"):
        return False
    campaign.status = "failed"
    campaign.failed_reason = reason[:MAX_REASON]
    campaign.failed_at = now
    campaign.next_run_at = None
    session.flush()
    return True


def cancel(session: Session, campaign: Campaign, now: datetime) -> int:
    """Stop a campaign: no further runs, and its messages still waiting in the outbox (for
    quiet hours to end, or for the sender) are withdrawn, their coupon codes cancelled.
    Returns how many messages were withdrawn. Messages already sent stay sent; a sent
    campaign can be cancelled while some of its messages still wait."""
    session.refresh(campaign, with_for_update=True)
    queued = (OutboxMessage.program_id == campaign.program_id) & (OutboxMessage.kind == "campaign") & (
        OutboxMessage.status == "queued") & OutboxMessage.dedupe_key.like(f"campaign:{campaign.id}:%")
    if campaign.status == "cancelled" or (
        campaign.status == "sent" and session.scalar(select(OutboxMessage.id).where(queued).limit(1)) is None
    ):
        raise Refused(f"campaign {campaign.id} was already {campaign.status}", reason=f"already_{campaign.status}")
    campaign.status = "cancelled"
    campaign.cancelled_at = now
    campaign.next_run_at = None
    waiting = (
        select(CampaignRecipient.code_id)
        .join(OutboxMessage, (OutboxMessage.program_id == CampaignRecipient.program_id)
              & (OutboxMessage.dedupe_key == recipient_key()))
        .where(CampaignRecipient.campaign_id == campaign.id, CampaignRecipient.code_id.is_not(None),
               OutboxMessage.status == "queued")
    )
    session.execute(
        update(Code).where(Code.id.in_(waiting.scalar_subquery()), Code.status == "issued")
        .values(status="cancelled").execution_options(synchronize_session=False)
    )
    withdrawn = session.execute(
        update(OutboxMessage).where(queued).values(status="skipped", error=CANCELLED)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return int(withdrawn.rowcount or 0)
