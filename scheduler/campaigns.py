"""Running due campaigns: the loop around ``rewards.promotions.fanout.fan_out`` that commits a chunk
at a time (a short transaction each, so webhooks are not held behind a big campaign on
SQLite; a runtime's sessions wake the senders as each commits). The clock's campaign job, ``loyalty campaign
send-due`` and ``campaign create --now`` (web/cli/campaigns.py) use it.

Each campaign fails alone: a run that raises is rolled back to its last committed chunk and
the campaign marked ``failed`` with the reason, and the next due campaign goes on. A
database that is unreachable or busy (``OperationalError``: connection lost, lock timeout,
deadlock) is not the campaign's fault: that run is left for the next tick.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from rewards.errors import Inconsistent, LoyaltyError
from rewards.models import Campaign
from rewards.promotions import campaigns
from rewards.promotions.fanout import Progress, fan_out

BATCH = 5000  # members per transaction
log = logging.getLogger(__name__)


@dataclass
class RunTotals:
    campaign_id: int
    name: str
    looked_at: int = 0
    queued: int = 0
    waiting: int = 0
    skipped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    done: bool = False
    failed: str | None = None  # why the run stopped, when it raised (the campaign is now "failed")
    retry: str | None = None  # why the run waits for the next tick (the database, not the campaign)

    def add(self, step: Progress) -> None:
        self.looked_at += step.looked_at
        self.queued += step.queued
        self.waiting += step.waiting
        self.skipped += step.skipped
        for reason, n in step.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + n
        self.done = step.done


def run_campaign(sessions: sessionmaker[Session], campaign_id: int, clock: Callable[[], datetime],
                 channels: Collection[str], *, batch: int = BATCH,
                 on_progress: Callable[[RunTotals], None] | None = None) -> RunTotals:
    """Fan out one campaign's due run to the end, a transaction per ``batch`` members."""
    totals: RunTotals | None = None
    while True:
        with sessions.begin() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None:
                raise Inconsistent("campaign is missing")
            totals = totals or RunTotals(campaign.id, campaign.name)
            step = fan_out(session, campaign, clock(), list(channels), limit=batch)
        totals.add(step)
        if on_progress is not None and step.looked_at:
            on_progress(totals)
        if step.done:
            return totals


def run_alone(sessions: sessionmaker[Session], campaign_id: int, clock: Callable[[], datetime],
              channels: Collection[str], *, batch: int = BATCH,
              on_progress: Callable[[RunTotals], None] | None = None) -> RunTotals:
    """``run_campaign``, but a run that raises marks its campaign failed (``totals.failed``)
    instead of stopping the caller's other campaigns."""
    try:
        return run_campaign(sessions, campaign_id, clock, channels, batch=batch, on_progress=on_progress)
    except OperationalError as error:
        return RunTotals(campaign_id, _name(sessions, campaign_id), retry=campaigns.failure(error))
    except Exception as error:  # noqa: BLE001 - whatever one campaign raises, the others go out
        reason = campaigns.failure(error)
        # The caller reports the reason once; the traceback is for a developer, when it is a bug.
        log.debug("campaign %s failed", campaign_id, exc_info=not isinstance(error, LoyaltyError))
        with sessions.begin() as session:
            campaign = session.get_one(Campaign, campaign_id)
            marked = campaigns.fail(session, campaign, reason, clock())
            totals = RunTotals(campaign.id, campaign.name, done=True, failed=reason if marked else None)
        return totals


def _name(sessions: sessionmaker[Session], campaign_id: int) -> str:
    try:
        with sessions() as session:
            campaign = session.get(Campaign, campaign_id)
            return campaign.name if campaign is not None else ""
    except OperationalError:
        return ""


def send_due(sessions: sessionmaker[Session], clock: Callable[[], datetime], channels: Collection[str],
             program_id: int | None = None, *, batch: int = BATCH,
             on_progress: Callable[[RunTotals], None] | None = None) -> list[RunTotals]:
    """Every campaign due now (of one program, or all), fanned out in turn; one that fails
    is marked so and the rest still go out."""
    with sessions.begin() as session:
        due = [c.id for c in campaigns.due(session, clock(), program_id)]
    return [run_alone(sessions, campaign_id, clock, channels, batch=batch, on_progress=on_progress)
            for campaign_id in due]
