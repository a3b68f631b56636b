"""ledger_entries.amount is 64-bit on PostgreSQL: an expiry or a deletion's forfeit carries
a whole balance (already BIGINT), which can pass 2,147,483,647

SQLite's INTEGER is 64-bit already: nothing to do there. On PostgreSQL the table is
rewritten (its indexes rebuilt) under an exclusive lock: seconds for a million entries.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("ledger_entries", "amount", type_=sa.BigInteger(), existing_type=sa.Integer(),
                        existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("ledger_entries", "amount", type_=sa.Integer(), existing_type=sa.BigInteger(),
                        existing_nullable=False)
