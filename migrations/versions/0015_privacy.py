"""privacy: erased contacts (phones, addresses) as keyed hashes, ephemeral outbox rows, retention indexes;
referrals remember the purchase that qualified them and can be reversed

Revision ID: 0015
Revises: 0016
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rewards.models

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

UTC = rewards.models.UTCDateTime
_STATUSES_BEFORE = ("invited", "joined", "qualified")


def _statuses(values: tuple[str, ...]) -> str:
    return f"status IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    with op.batch_alter_table("programs") as batch:
        batch.add_column(sa.Column("privacy_key", sa.String(length=64), nullable=True))
    op.create_table(
        "erased_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("contact_hash", sa.String(length=64), nullable=False),
        sa.Column("erased_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_erased_contacts_program_id_programs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erased_contacts")),
        sa.UniqueConstraint("program_id", "contact_hash", name=op.f("uq_erased_contacts_program_id_contact_hash")),
    )
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("ephemeral", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    op.create_index("ix_outbox_program_created", "outbox_messages", ["program_id", "created_at"])
    op.create_index("ix_outbox_ephemeral", "outbox_messages", ["id"],
                    sqlite_where=sa.text("ephemeral"), postgresql_where=sa.text("ephemeral"))
    op.create_index("ix_inbound_program_received", "inbound_messages", ["program_id", "received_at"])
    with op.batch_alter_table("referrals") as batch:
        batch.add_column(sa.Column("purchase_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("reversed_at", UTC(), nullable=True))
        batch.create_foreign_key(op.f("fk_referrals_purchase_id_purchases"), "purchases", ["purchase_id"], ["id"])
        batch.create_index("ix_referrals_purchase_id", ["purchase_id"])
        batch.drop_constraint(op.f("ck_referrals_status_known"), type_="check")
        batch.create_check_constraint(op.f("ck_referrals_status_known"), _statuses(rewards.models.REFERRAL_STATUSES))


def downgrade() -> None:
    with op.batch_alter_table("referrals") as batch:
        batch.drop_constraint(op.f("ck_referrals_status_known"), type_="check")
        batch.create_check_constraint(op.f("ck_referrals_status_known"), _statuses(_STATUSES_BEFORE))
        batch.drop_index("ix_referrals_purchase_id")
        batch.drop_constraint("fk_referrals_purchase_id_purchases", type_="foreignkey")
        batch.drop_column("reversed_at")
        batch.drop_column("purchase_id")
    op.drop_index("ix_inbound_program_received", table_name="inbound_messages")
    op.drop_index("ix_outbox_ephemeral", table_name="outbox_messages")
    op.drop_index("ix_outbox_program_created", table_name="outbox_messages")
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("ephemeral")
    op.drop_table("erased_contacts")
    with op.batch_alter_table("programs") as batch:
        batch.drop_column("privacy_key")
