"""The console's activity log: who did what, when, on whom; for the owner to read."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rewards.models import StaffActivity, StaffUser


def record(session: Session, user: StaffUser, action: str, now: datetime, target: str | None = None,
           **details: Any) -> StaffActivity:
    entry = StaffActivity(program_id=user.program_id, staff_user_id=user.id, email=user.email, action=action[:64],
                          target=target[:200] if target else None, details=details, at=now)
    session.add(entry)
    return entry


def entries(session: Session, program_id: int, *, email: str | None = None, action: str | None = None,
            target: str | None = None, since: datetime | None = None, until: datetime | None = None,
            limit: int = 100, before_id: int | None = None) -> list[StaffActivity]:
    """The newest first, filtered; ``before_id`` pages further back."""
    query = select(StaffActivity).where(StaffActivity.program_id == program_id)
    if email:
        query = query.where(StaffActivity.email == email.strip().lower())
    if action:
        query = query.where(StaffActivity.action == action)
    if target:
        query = query.where(StaffActivity.target == target)
    if since:
        query = query.where(StaffActivity.at >= since)
    if until:
        query = query.where(StaffActivity.at < until)
    if before_id:
        query = query.where(StaffActivity.id < before_id)
    return list(session.scalars(query.order_by(StaffActivity.id.desc()).limit(limit)))
