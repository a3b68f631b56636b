"""channels: handled provider deliveries, unreachable addresses, delivery status

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rewards.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("provider_message_id", sa.String(length=200), nullable=False),
        sa.Column("received_at", rewards.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_inbound_messages_program_id_programs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
        sa.UniqueConstraint(
            "program_id", "channel", "provider_message_id",
            name=op.f("uq_inbound_messages_program_id_channel_provider_message_id"),
        ),
    )
    with op.batch_alter_table("identities") as batch:
        batch.add_column(sa.Column("unreachable_at", rewards.models.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("unreachable_reason", sa.String(length=500), nullable=True))
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("delivery_status", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("delivery_status_at", rewards.models.UTCDateTime(), nullable=True))
    op.create_index("ix_outbox_provider_message", "outbox_messages", ["channel", "provider_message_id"])
    op.create_index("ix_outbox_address", "outbox_messages", ["program_id", "channel", "address", "status"])


def downgrade() -> None:
    op.drop_index("ix_outbox_address", table_name="outbox_messages")
    op.drop_index("ix_outbox_provider_message", table_name="outbox_messages")
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("delivery_status_at")
        batch.drop_column("delivery_status")
    with op.batch_alter_table("identities") as batch:
        batch.drop_column("unreachable_reason")
        batch.drop_column("unreachable_at")
    op.drop_table("inbound_messages")
