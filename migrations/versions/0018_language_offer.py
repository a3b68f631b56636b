"""members.language_offered_at: when the bot last offered a member to switch to the language
they wrote in, so it offers once in a while and does not nag

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-12
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rewards.models

revision = "0018"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("language_offered_at", rewards.models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.drop_column("language_offered_at")
