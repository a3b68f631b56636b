"""Running due campaigns from the CLI: ``scheduler.campaigns`` with this runtime's database,
clock, channels and sender. ``loyalty campaign send-due`` and ``campaign create --now`` use
it; the clock process calls ``scheduler.campaigns.send_due`` itself.
"""
from __future__ import annotations

from collections.abc import Callable

from scheduler import campaigns
from scheduler.campaigns import BATCH, RunTotals
from web.runtime import Runtime

__all__ = ["BATCH", "RunTotals", "run_campaign", "send_due"]


def run_campaign(rt: Runtime, campaign_id: int, batch: int = BATCH,
                 on_progress: Callable[[RunTotals], None] | None = None) -> RunTotals:
    """Fan out one campaign's due run to the end, a transaction per ``batch`` members (a run
    that raises marks the campaign failed: ``totals.failed``)."""
    rt.ensure_schema()
    return campaigns.run_alone(rt.sessions, campaign_id, rt.clock, rt.enabled_channels, batch=batch,
                                  on_progress=on_progress)


def send_due(rt: Runtime, program_id: int | None = None, batch: int = BATCH,
             on_progress: Callable[[RunTotals], None] | None = None) -> list[RunTotals]:
    """Every campaign due now (of one program, or all), fanned out in turn."""
    rt.ensure_schema()
    return campaigns.send_due(rt.sessions, rt.clock, rt.enabled_channels, program_id, batch=batch,
                              on_progress=on_progress)
