"""metric_days, metric_windows and metric_cohorts: the dashboard's figures summarised by the clock
(rewards/metrics/summaries.py), and the indexes their readers use to add today and take
out refunds: members by deletion time (and tier), purchases by refund time, a member's
days, identities by channel; and member_days.first_at, when a member first wrote that day,
so a summary made during the day knows whom it saw

Nothing is filled here: the clock fills the closed days (from the program's first), the
windows today's periods need and the cohort table within minutes of starting; until then
the figures are read from the events, as before.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

DAY_COUNTS = ("new_members", "deleted_members", "referred", "purchases")
DAY_POINTS = ("sales_minor", "earned", "redeemed", "returned", "refunded", "expired", "adjusted")
NPS = ("nps_responses", "nps_promoters", "nps_detractors")
WINDOW_COUNTS = ("purchasers", "repeat_purchasers", "previous_purchasers", "retained", "active", "referrers")


def upgrade() -> None:
    op.create_table(
        "metric_days",
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("cutoff", sa.DateTime(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in DAY_COUNTS),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in DAY_POINTS),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in NPS),
        sa.Column("rewards", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_metric_days_program_id_programs")),
        sa.PrimaryKeyConstraint("program_id", "day", name=op.f("pk_metric_days")),
    )
    op.create_table(
        "metric_windows",
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("end", sa.Date(), nullable=False),
        sa.Column("prev_start", sa.Date(), nullable=False),
        sa.Column("cutoff", sa.DateTime(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in WINDOW_COUNTS),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_metric_windows_program_id_programs")),
        sa.PrimaryKeyConstraint("program_id", "start", "end", "prev_start", name=op.f("pk_metric_windows")),
    )
    op.create_table(
        "metric_cohorts",
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("first_month", sa.Date(), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("cutoff", sa.DateTime(), nullable=False),
        sa.Column("rows", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_metric_cohorts_program_id_programs")),
        sa.PrimaryKeyConstraint("program_id", "first_month", "months", name=op.f("pk_metric_cohorts")),
    )
    op.create_index("ix_members_program_deleted", "members", ["program_id", "deleted_at", "tier_id"])
    op.create_index("ix_identities_program_channel_member", "identities", ["program_id", "channel", "member_id"])
    op.create_index("ix_purchases_program_refunded", "purchases", ["program_id", "refunded_at"],
                    sqlite_where=sa.text("refunded_at IS NOT NULL"), postgresql_where=sa.text("refunded_at IS NOT NULL"))
    op.create_index("ix_member_days_member_day", "member_days", ["member_id", "day"])
    with op.batch_alter_table("member_days") as batch:
        batch.add_column(sa.Column("first_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("member_days") as batch:
        batch.drop_column("first_at")
    op.drop_index("ix_member_days_member_day", table_name="member_days")
    op.drop_index("ix_purchases_program_refunded", table_name="purchases")
    op.drop_index("ix_identities_program_channel_member", table_name="identities")
    op.drop_index("ix_members_program_deleted", table_name="members")
    op.drop_table("metric_cohorts")
    op.drop_table("metric_windows")
    op.drop_table("metric_days")
