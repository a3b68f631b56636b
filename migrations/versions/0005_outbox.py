"""outbox: messages waiting for the sender

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rewards.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", rewards.models.UTCDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claimed_until", rewards.models.UTCDateTime(), nullable=True),
        sa.Column("created_at", rewards.models.UTCDateTime(), nullable=False),
        sa.Column("sent_at", rewards.models.UTCDateTime(), nullable=True),
        sa.Column("provider_message_id", sa.String(length=200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'failed', 'skipped')", name=op.f("ck_outbox_messages_status_known")
        ),
        sa.CheckConstraint("kind IN ('reply', 'notice', 'campaign')", name=op.f("ck_outbox_messages_kind_known")),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_outbox_messages_attempts_non_negative")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_outbox_messages_program_id_programs")),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_outbox_messages_member_id_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
        sa.UniqueConstraint("program_id", "dedupe_key", name=op.f("uq_outbox_messages_program_id_dedupe_key")),
    )
    op.create_index("ix_outbox_claim", "outbox_messages", ["status", "available_at", "priority", "id"])
    op.create_index("ix_outbox_program_status", "outbox_messages", ["program_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_outbox_program_status", table_name="outbox_messages")
    op.drop_index("ix_outbox_claim", table_name="outbox_messages")
    op.drop_table("outbox_messages")
