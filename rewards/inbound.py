"""Provider deliveries already handled, so a retried webhook has exactly one effect.

The database decides: the first insert of (program, channel, provider id) wins, a second
one (a redelivery, or the same update racing in on another worker) finds the row. Like every
domain module: takes ``session`` and ``now``, never commits.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from rewards.models import InboundMessage
from rewards.storage.bulk import insert_many


def first_delivery(session: Session, program_id: int, channel: str, provider_message_id: str, now: datetime) -> bool:
    """Record the delivery; False when it was recorded before (do nothing more with it)."""
    row = {"program_id": program_id, "channel": channel, "provider_message_id": provider_message_id[:200],
           "received_at": now}
    return bool(insert_many(session, InboundMessage.__table__, [row],
                            conflict=("program_id", "channel", "provider_message_id"), returning=("id",)))
