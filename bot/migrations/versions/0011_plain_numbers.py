"""plain numbers: client and contract numbers stored in their plain form, as the importer now
reads them (Unicode NFKC, and without the `="…"` a spreadsheet keeps a number as text with)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 09:00:00.000000

The importer reads a client or contract number written with full-width characters
(« ８２０００１ », typed with some keyboards) as the plain one (« 820001 »), and Excel's
`="820001"` (a number kept as text) as the text inside. A database imported before kept such
a number as written: at the next import, the plain number would make a new
client, and the contracts would move to it, away from the cases and the calls of the client
they belonged to. This renames those numbers in place, so that the client (or the contract)
keeps its id, its cases and its history.

A number whose plain form another client (or contract) already has is left as it is: the two
are one in the CRM, and the next import moves the contracts to the one the file names, as for
any contract that changes client. So is a plain form longer than the column (NFKC can lengthen
a few characters). The downgrade keeps the plain numbers: they are the CRM's.
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NUMBER_LENGTH = 64  # `client.number` and `contract.number`


def _plain(number: str) -> str:
    """The form the importer gives a number (`bot.crm.rows`: `_spreadsheet_marks`, then
    `_same_characters`), repeated here: a migration keeps the rule it was written with."""
    if len(number) >= 3 and number.startswith('="') and number.endswith('"'):
        number = number[2:-1].replace('""', '"').strip()
    return unicodedata.normalize("NFKC", number).strip()


def _marked(number: str) -> bool:
    return not number.isascii() or number.startswith('="')


def upgrade() -> None:
    connection = op.get_bind()
    for name in ("client", "contract"):
        table = sa.table(name, sa.column("id", sa.Integer()), sa.column("number", sa.String()))
        # Every number is read once, streamed (SQLite has no portable test for a non-ASCII
        # text); only the few to change are held.
        written = {
            row_id: number
            for row_id, number in connection.execute(
                sa.select(table.c.id, table.c.number).execution_options(yield_per=10_000)
            )
            if _marked(number)
        }
        for row_id, number in sorted(written.items()):  # the oldest first keeps a shared form
            plain = _plain(number)
            if not plain or plain == number or len(plain) > NUMBER_LENGTH:
                continue
            taken = connection.execute(
                sa.select(table.c.id).where(table.c.number == plain).limit(1)
            ).first()
            if taken is None:
                connection.execute(
                    sa.update(table).where(table.c.id == row_id).values(number=plain)
                )


def downgrade() -> None:
    # The plain numbers are the ones the CRM's export gives: nothing to put back.
    pass
