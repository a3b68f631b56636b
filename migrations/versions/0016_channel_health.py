"""channel_health: since when each channel's provider fails, for /healthz/details and the
worker's progress line

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-10
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rewards.models

revision = "0016"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_health",
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("failing_since", rewards.models.UTCDateTime(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_failure_at", rewards.models.UTCDateTime(), nullable=True),
        sa.Column("recovered_at", rewards.models.UTCDateTime(), nullable=True),
        sa.CheckConstraint("consecutive_failures >= 0", name=op.f("ck_channel_health_failures_non_negative")),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_channel_health")),
    )


def downgrade() -> None:
    op.drop_table("channel_health")
