"""members: indexes for the console's member list (rewards/member_search.py): one per sort
(balance, last visit, join date) and one on lower(name) for a search by the start of a name

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02
"""
from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

SORTS = {
    "ix_members_program_balance": ["program_id", "balance", "id"],
    "ix_members_program_last_activity": ["program_id", "last_activity_at", "id"],
    "ix_members_program_joined_id": ["program_id", "joined_at", "id"],
}


def upgrade() -> None:
    for name, columns in SORTS.items():
        op.create_index(name, "members", columns)
    # text_pattern_ops: PostgreSQL answers LIKE 'ben%' from it whatever the database's collation.
    ops = " text_pattern_ops" if op.get_bind().dialect.name == "postgresql" else ""
    op.execute(f"CREATE INDEX ix_members_program_name ON members (program_id, lower(name){ops})")


def downgrade() -> None:
    op.drop_index("ix_members_program_name", table_name="members")
    for name in SORTS:
        op.drop_index(name, table_name="members")
