"""outbox_messages.due_at: when a message was first due, which its staleness counts from

A message held back by quiet hours is due the next morning, not when it was queued, and an
operator's ``loyalty outbox retry`` makes it due again from then; ``available_at`` moves
with every retry, so it cannot say. Rows queued before this migration count from when they
were queued (``created_at``), as they did. The index lets the sender find the stale rows
of each kind before every claim without reading the whole queue.

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rewards.models

revision = "0019"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("due_at", rewards.models.UTCDateTime(), nullable=True))
    op.execute("UPDATE outbox_messages SET due_at = created_at")
    with op.batch_alter_table("outbox_messages") as batch:
        batch.alter_column("due_at", existing_type=rewards.models.UTCDateTime(), nullable=False)
        batch.create_index("ix_outbox_stale", ["status", "kind", "due_at"])


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_index("ix_outbox_stale")
        batch.drop_column("due_at")
