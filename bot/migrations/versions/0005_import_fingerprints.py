"""import fingerprints: `contract.row_hash`, the fingerprint of the export row a contract was
last imported from, so that a later import skips the rows that did not change

Revision ID: 0005
Revises: 0006
Create Date: 2026-12-01 10:00:00.000000

0005 was set aside for this change while 0004 was written; 0006 (the outbox) was committed
first, on 0004, so this revision follows 0006 to keep a single head.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column: no table rebuild on SQLite, and every existing contract simply has
    # its row read again by the next import.
    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.add_column(sa.Column("row_hash", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.drop_column("row_hash")
