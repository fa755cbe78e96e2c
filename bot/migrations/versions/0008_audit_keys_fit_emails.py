"""audit keys fit e-mails: `audit_log.entity_key` and `audit_log.actor` as long as an
e-mail (254, `advisor.email`)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:00:00.000000

An advisor's e-mail is the key of their audit rows (and an advisor is the actor of the changes
they make in Slack): over 64 characters, the staff import could no longer update or
deactivate them on PostgreSQL. Widening a varchar is a change of the catalogue alone on
PostgreSQL (no table rewrite); on SQLite, which stores any length anyway, the table is rebuilt
(batch mode) for its declared types to match the model.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (column, length before, length after)
_COLUMNS = (("entity_key", 64, 254), ("actor", 120, 254))


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        for name, before, after in _COLUMNS:
            batch_op.alter_column(
                name,
                existing_type=sa.String(length=before),
                type_=sa.String(length=after),
                existing_nullable=False,
            )


def downgrade() -> None:
    # The older columns cannot hold the longer values: those are cut to fit (the rows stay).
    for name, before, _ in _COLUMNS:
        op.execute(
            f"UPDATE audit_log SET {name} = substr({name}, 1, {before}) "
            f"WHERE length({name}) > {before}"
        )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        for name, before, after in _COLUMNS:
            batch_op.alter_column(
                name,
                existing_type=sa.String(length=after),
                type_=sa.String(length=before),
                existing_nullable=False,
            )
