"""remembered flags: `contract.row_flags`, what the row whose fingerprint a contract keeps has
to fix in the CRM, so that a later import reports it without reading the row again

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 09:00:00.000000

Before, a row with something to fix (a bad phone, say) kept no fingerprint, so that every
import read it again to report it: an agency whose export has such rows paid for them at every
import. The row's fixes, as the importer words them (a JSON list), are now kept with its
fingerprint.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column: no table rebuild on SQLite. The contracts whose row had something to
    # fix kept no fingerprint: their rows are read again by the next import, which keeps both.
    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.add_column(sa.Column("row_flags", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.drop_column("row_flags")
