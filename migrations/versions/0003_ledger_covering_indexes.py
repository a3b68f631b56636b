"""covering index for tier/expiry look-ups; partial index for pending points

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PENDING = sa.text("available_at IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_ledger_member_lot", table_name="ledger_entries")
    op.create_index("ix_ledger_member_lot", "ledger_entries", ["member_id", "lot_at", "kind", "amount"])
    op.create_index(
        "ix_ledger_member_pending", "ledger_entries", ["member_id", "available_at", "amount"],
        sqlite_where=PENDING, postgresql_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_member_pending", table_name="ledger_entries")
    op.drop_index("ix_ledger_member_lot", table_name="ledger_entries")
    op.create_index("ix_ledger_member_lot", "ledger_entries", ["member_id", "lot_at"])
