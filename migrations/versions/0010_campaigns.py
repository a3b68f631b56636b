"""campaigns: promotions, their runs and recipients; members.timezone

Revision ID: 0010
Revises: 0007
Create Date: 2026-11-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rewards.models

revision = "0010"
down_revision = "0007"
branch_labels = None
depends_on = None

UTC = rewards.models.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
    op.create_index("ix_members_program_keyset", "members", ["program_id", "id"])
    _derive_member_zones()

    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("image_url", sa.String(length=500), nullable=True),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("offer_kind", sa.String(length=12), nullable=False),
        sa.Column("multiplier_permille", sa.Integer(), nullable=True),
        sa.Column("offer_starts_at", UTC(), nullable=True),
        sa.Column("offer_ends_at", UTC(), nullable=True),
        sa.Column("reward_id", sa.Integer(), nullable=True),
        sa.Column("send_at", UTC(), nullable=True),
        sa.Column("cron", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("next_run_at", UTC(), nullable=True),
        sa.Column("last_run_at", UTC(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("cancelled_at", UTC(), nullable=True),
        sa.CheckConstraint(
            "status IN ('scheduled', 'sending', 'sent', 'cancelled')", name=op.f("ck_campaigns_status_known")
        ),
        sa.CheckConstraint("offer_kind IN ('none', 'multiplier', 'coupon')", name=op.f("ck_campaigns_offer_kind_known")),
        sa.CheckConstraint(
            "offer_kind <> 'multiplier' OR (multiplier_permille > 1000 AND offer_starts_at IS NOT NULL"
            " AND offer_ends_at > offer_starts_at)",
            name=op.f("ck_campaigns_multiplier_complete"),
        ),
        sa.CheckConstraint("offer_kind <> 'coupon' OR reward_id IS NOT NULL", name=op.f("ck_campaigns_coupon_has_reward")),
        sa.CheckConstraint("send_at IS NOT NULL OR cron IS NOT NULL", name=op.f("ck_campaigns_has_schedule")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_campaigns_program_id_programs")),
        sa.ForeignKeyConstraint(["reward_id"], ["rewards.id"], name=op.f("fk_campaigns_reward_id_rewards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_index(op.f("ix_campaigns_program_id"), "campaigns", ["program_id"])
    op.create_index("ix_campaigns_due", "campaigns", ["status", "next_run_at"])
    op.create_index("ix_campaigns_offer", "campaigns", ["program_id", "offer_kind", "offer_ends_at"])

    op.create_table(
        "campaign_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("scheduled_for", UTC(), nullable=False),
        sa.Column("started_at", UTC(), nullable=False),
        sa.Column("finished_at", UTC(), nullable=True),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_campaign_runs_program_id_programs")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name=op.f("fk_campaign_runs_campaign_id_campaigns")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_runs")),
        sa.UniqueConstraint("campaign_id", "scheduled_for", name=op.f("uq_campaign_runs_campaign_id_scheduled_for")),
        sa.UniqueConstraint("id", "campaign_id", "program_id", name=op.f("uq_campaign_runs_id_campaign_id_program_id")),
    )

    op.create_table(
        "campaign_recipients",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("code_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
        sa.CheckConstraint("status IN ('queued', 'skipped')", name=op.f("ck_campaign_recipients_status_known")),
        sa.CheckConstraint(
            "reason IS NULL OR reason IN ('no_consent', 'opted_out', 'no_channel', 'over_cap', 'whatsapp_window')",
            name=op.f("ck_campaign_recipients_reason_known"),
        ),
        sa.CheckConstraint(
            "(status = 'skipped') = (reason IS NOT NULL)", name=op.f("ck_campaign_recipients_skipped_has_reason")
        ),
        sa.ForeignKeyConstraint(
            ["run_id", "campaign_id", "program_id"],
            ["campaign_runs.id", "campaign_runs.campaign_id", "campaign_runs.program_id"],
            name=op.f("fk_campaign_recipients_run_id_campaign_runs"),
        ),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_campaign_recipients_member_id_members")),
        sa.ForeignKeyConstraint(["code_id"], ["codes.id"], name=op.f("fk_campaign_recipients_code_id_codes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_recipients")),
        sa.UniqueConstraint(
            "campaign_id", "run_id", "member_id", name=op.f("uq_campaign_recipients_campaign_id_run_id_member_id")
        ),
    )
    op.create_index("ix_campaign_recipients_cap", "campaign_recipients", ["member_id", "status", "created_at"])


def _derive_member_zones() -> None:
    """Members who joined before the column existed get their zone from their phone, as
    ``members.join`` now does (the fan-out would otherwise work it out on every campaign)."""
    from rewards.localtime import zone_for_phone

    conn = op.get_bind()
    zones = dict(conn.execute(sa.text("SELECT id, timezone FROM programs")).all())
    rows = conn.execute(sa.text("SELECT id, program_id, phone FROM members WHERE phone IS NOT NULL")).all()
    changes = [{"id": member_id, "zone": zone_for_phone(phone, zones[program_id])} for member_id, program_id, phone in rows]
    for start in range(0, len(changes), 1000):
        conn.execute(sa.text("UPDATE members SET timezone = :zone WHERE id = :id"), changes[start:start + 1000])


def downgrade() -> None:
    op.drop_index("ix_campaign_recipients_cap", table_name="campaign_recipients")
    op.drop_table("campaign_recipients")
    op.drop_table("campaign_runs")
    op.drop_index("ix_campaigns_offer", table_name="campaigns")
    op.drop_index("ix_campaigns_due", table_name="campaigns")
    op.drop_index(op.f("ix_campaigns_program_id"), table_name="campaigns")
    op.drop_table("campaigns")
    op.drop_index("ix_members_program_keyset", table_name="members")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("timezone")
