"""campaigns: status 'failed' with failed_at and failed_reason (a run that raised stops
alone; the other campaigns still go out)

Revision ID: 0014
Revises: 0016
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rewards.models

revision = "0014"
down_revision = "0016"
branch_labels = None
depends_on = None

_STATUSES = "status IN ('scheduled', 'sending', 'sent', 'cancelled'{extra})"


def _status_check(batch: object, extra: str) -> None:
    batch.drop_constraint(op.f("ck_campaigns_status_known"), type_="check")  # type: ignore[attr-defined]
    batch.create_check_constraint(op.f("ck_campaigns_status_known"), _STATUSES.format(extra=extra))  # type: ignore[attr-defined]


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("failed_at", rewards.models.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("failed_reason", sa.String(length=300), nullable=True))
        _status_check(batch, ", 'failed'")


def downgrade() -> None:
    op.execute("UPDATE campaigns SET status = 'cancelled', cancelled_at = failed_at WHERE status = 'failed'")
    with op.batch_alter_table("campaigns") as batch:
        _status_check(batch, "")
        batch.drop_column("failed_reason")
        batch.drop_column("failed_at")
