"""member_days, and the indexes the dashboard's figures read (rewards/metrics/)

``member_days``: one row for each day (in the program's time zone) a member wrote to us,
so "active in the period" can count messages after the inbound delivery records are
deleted. Days before this migration are not known: those figures count purchases and
redemptions only. The indexes let a period's figures read the rows of that period, not
whole tables: ledger entries, new members, codes issued and survey answers by time; the
purchases' index by time now carries what the figures read of them.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_days",
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_member_days_program_id_programs")),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_member_days_member_id_members")),
        sa.PrimaryKeyConstraint("program_id", "day", "member_id", name=op.f("pk_member_days")),
    )
    op.drop_index("ix_purchases_program_created", table_name="purchases")
    op.create_index("ix_purchases_program_created", "purchases",
                    ["program_id", "created_at", "member_id", "amount_minor", "refunded_at"])
    op.create_index("ix_ledger_program_created", "ledger_entries", ["program_id", "created_at", "kind", "amount"])
    op.create_index("ix_members_program_joined", "members", ["program_id", "joined_at"])
    op.create_index("ix_codes_program_issued", "codes", ["program_id", "issued_at"])
    op.create_index("ix_surveys_program_answered", "surveys", ["program_id", "answered_at", "score"])


def downgrade() -> None:
    op.drop_index("ix_surveys_program_answered", table_name="surveys")
    op.drop_index("ix_codes_program_issued", table_name="codes")
    op.drop_index("ix_members_program_joined", table_name="members")
    op.drop_index("ix_ledger_program_created", table_name="ledger_entries")
    op.drop_table("member_days")
    op.drop_index("ix_purchases_program_created", table_name="purchases")
    op.create_index("ix_purchases_program_created", "purchases", ["program_id", "created_at"])


