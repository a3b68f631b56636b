"""ledger entries are append-only: triggers refuse UPDATE and DELETE

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = {
    "sqlite": [
        "CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries"
        " BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END",
        "CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries"
        " BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'ledger entries are append-only'; END $$",
        "CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries"
        " FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only()",
    ],
}
DOWNGRADE = {
    "sqlite": ["DROP TRIGGER ledger_entries_no_update", "DROP TRIGGER ledger_entries_no_delete"],
    "postgresql": [
        "DROP TRIGGER ledger_entries_append_only ON ledger_entries",
        "DROP FUNCTION ledger_entries_append_only()",
    ],
}


def upgrade() -> None:
    for statement in UPGRADE.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE.get(op.get_bind().dialect.name, []):
        op.execute(statement)
