"""The program file's ``[privacy]`` table: how long message records keep personal data.

Kept apart from ``rewards.program.config`` (which reads the rest of the file) to keep both small.
Pure: no database, no clock.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rewards.program.config_fields import Table

MAX_RETENTION_DAYS = 3650


@dataclass(frozen=True)
class Privacy:
    # After this many days the clock deletes delivery records and wrong-code records and
    # erases the address and text of messages sent (rewards/erasure.py). At least 1: a
    # provider's retry must still find its delivery record.
    message_retention_days: int = 30


def parse_privacy(source: str, data: Any) -> Privacy:
    t = Table(source, "[privacy]", data)
    days = t.integer("message_retention_days", Privacy.message_retention_days, minimum=1)
    if days > MAX_RETENTION_DAYS:
        t.fail("message_retention_days", f"must be at most {MAX_RETENTION_DAYS} days (got {days}):"
               " personal data is not kept forever")
    t.finish()
    return Privacy(days)
