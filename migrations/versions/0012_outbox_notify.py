"""outbox: on PostgreSQL, inserting rows NOTIFYs the senders (a statement-level trigger)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""
from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UPGRADE = [
    "CREATE FUNCTION outbox_messages_notify() RETURNS trigger LANGUAGE plpgsql AS"
    " $$ BEGIN PERFORM pg_notify('loyalty_outbox', ''); RETURN NULL; END $$",
    "CREATE TRIGGER outbox_messages_notify AFTER INSERT ON outbox_messages"
    " FOR EACH STATEMENT EXECUTE FUNCTION outbox_messages_notify()",
]
DOWNGRADE = [
    "DROP TRIGGER outbox_messages_notify ON outbox_messages",
    "DROP FUNCTION outbox_messages_notify()",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DOWNGRADE:
            op.execute(statement)
