"""automations: surveys (the 0-10 question after a purchase and its answer); purchases by time

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rewards.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UTC = rewards.models.UTCDateTime


def upgrade() -> None:
    op.create_index("ix_purchases_program_created", "purchases", ["program_id", "created_at"])
    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("purchase_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("asked_at", UTC(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("answered_at", UTC(), nullable=True),
        sa.CheckConstraint("score IS NULL OR (score >= 0 AND score <= 10)", name=op.f("ck_surveys_score_range")),
        sa.CheckConstraint("(score IS NULL) = (answered_at IS NULL)", name=op.f("ck_surveys_answered_has_score")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_surveys_program_id_programs")),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_surveys_member_id_members")),
        sa.ForeignKeyConstraint(["purchase_id"], ["purchases.id"], name=op.f("fk_surveys_purchase_id_purchases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
        sa.UniqueConstraint("program_id", "purchase_id", name=op.f("uq_surveys_program_id_purchase_id")),
    )
    op.create_index("ix_surveys_member_asked", "surveys", ["member_id", "asked_at"])


def downgrade() -> None:
    op.drop_index("ix_surveys_member_asked", table_name="surveys")
    op.drop_table("surveys")
    op.drop_index("ix_purchases_program_created", table_name="purchases")
