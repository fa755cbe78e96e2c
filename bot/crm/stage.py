"""The staging tables of a portfolio import: temporary tables on the import's own connection
(gone at the end of its transaction), loaded in bulk — `executemany` batches on SQLite, `COPY`
on PostgreSQL — and read back set-wise by `bot.crm.portfolio`.

- `stage_row`: one row per parsed contract row (its line, fingerprint, numbers, a reference to
  its client values and the contract values);
- `stage_client`: each distinct set of client values met in the file, once, by a 64-bit hash
  of the values (their `client_ref`: the same on both processes of a parallel read);
- `stage_final`: one row per client of the file: the line and values its details come from;
- `stage_window`: the M+3 window of each effect date a new client's recent contract has;
- `stage_group`: each new client with recent contracts: the first and last of their effect
  dates, and whether they all fit in one case (`bot.crm.portfolio` opens those set-wise);
- `stage_link`: the case each new contract of a new client goes to;
- `stage_touched`: the existing clients whose cases the import must bring in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from bot.crm.rows import CLIENT_FIELDS, CONTRACT_FIELDS
from bot.models import Base, Client, Contract

META = MetaData()
_TEMPORARY: dict[str, Any] = {"prefixes": ["TEMPORARY"], "postgresql_on_commit": "DROP"}
# SQLite: a table keyed by text (a client number, a date) is stored in its key's
# own B-tree (`WITHOUT ROWID`), so that a lookup by the key is one search, not a search of the
# key's index then one of the table: the settling joins the staged rows to `stage_final` by
# client number several times (100 000 lookups: 85 ms against 25 ms, measured alone).
_KEYED = {**_TEMPORARY, "sqlite_with_rowid": False}
# A 64-bit key that SQLite keeps as the table's own row id (its `INTEGER PRIMARY KEY`), the
# same one-search lookup; PostgreSQL's `bigint`.
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")


def _copies(table: Table, names: Sequence[str]) -> list[Column[Any]]:
    return [Column(name, table.c[name].type) for name in names]


stage_row = Table(
    "m3_stage_row",
    META,
    Column("line", Integer, primary_key=True, autoincrement=False),
    Column("row_hash", BigInteger),  # NULL: the row is not to be remembered
    Column("row_flags", Text),  # what it has to fix (`contract.row_flags`), NULL: nothing
    Column("client_number", String(64), nullable=False),
    Column("contract_number", String(64), nullable=False),
    Column("client_ref", BigInteger, nullable=False),  # its client values: `stage_client`
    *_copies(Base.metadata.tables[Contract.__tablename__], CONTRACT_FIELDS),
    Column("contract_id", Integer),  # the existing contract, once looked up
    Column("contract_hash", BigInteger),  # and the fingerprint it keeps
    Column("changed", Boolean),
    **_TEMPORARY,
)
stage_client = Table(
    "m3_stage_client",
    META,
    Column("client_ref", _ROW_ID, primary_key=True, autoincrement=False),
    Column("client_number", String(64), nullable=False),
    *_copies(Base.metadata.tables[Client.__tablename__], CLIENT_FIELDS),
    **_TEMPORARY,
)
stage_final = Table(
    "m3_stage_final",
    META,
    Column("client_number", String(64), primary_key=True),
    Column("line", Integer, nullable=False),
    Column("client_ref", BigInteger),  # NULL: the client keeps its details (a later known row)
    Column("match_ref", BigInteger),  # then, the staged values equal to the details it keeps
    Column("client_id", Integer),
    Column("is_new", Boolean),
    Column("changed", Boolean),
    **_KEYED,
)
stage_window = Table(
    "m3_stage_window",
    META,
    Column("effect_date", Date, primary_key=True),
    Column("due_date", Date, nullable=False),
    Column("window_start", Date, nullable=False),
    Column("window_end", Date, nullable=False),
    Column("deadline", Date, nullable=False),
    **_KEYED,
)
stage_group = Table(
    "m3_stage_group",
    META,
    Column("client_number", String(64), primary_key=True),
    Column("client_id", Integer, nullable=False),
    Column("advisor_id", Integer, nullable=False),
    Column("first_effect", Date, nullable=False),
    Column("deadline", Date, nullable=False),  # the latest contract's deadline
    Column("one_case", Boolean, nullable=False),  # all within the first contract's deadline
    **_KEYED,
)
stage_link = Table(
    "m3_stage_link",
    META,
    Column("line", Integer, primary_key=True, autoincrement=False),
    Column("case_id", Integer, nullable=False),
    **_TEMPORARY,
)
stage_touched = Table(
    "m3_stage_touched",
    META,
    Column("client_id", Integer, primary_key=True, autoincrement=False),
    **_TEMPORARY,
)
ROW_COLUMNS = (
    "line",
    "row_hash",
    "row_flags",
    "client_number",
    "contract_number",
    "client_ref",
    *CONTRACT_FIELDS,
)
CLIENT_COLUMNS = ("client_ref", "client_number", *CLIENT_FIELDS)


# SQLite's page cache while importing (the default is 2 MB): the staging tables and the
# indexes of `client` and `contract` are written all over; bounded, it keeps the memory bound.
SQLITE_CACHE_KIB = 16384
# PostgreSQL's memory for each sort and hash of the import's statements (the default, 4 MB,
# has the sorts of 100 000 rows spill to disk), for this transaction alone; its staging tables
# have their own buffers (`bot.db`).
POSTGRESQL_WORK_MEM = "64MB"
# And the cost it gives a page read out of order, against 1 for the next page (4 by default,
# for disks that seek): an import's tables and indexes are in memory, just read or written.
# A few thousand changed rows are then looked up by index in a million contracts, not by
# reading them all (a 1 % change of a million rows: its lookups 0.78 → 0.35 s).
POSTGRESQL_RANDOM_PAGE_COST = 1.1


def create(connection: Connection) -> None:
    drop(connection)
    if connection.dialect.name == "sqlite":
        connection.execute(text(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}"))
        connection.execute(text(f"PRAGMA temp.cache_size = -{SQLITE_CACHE_KIB}"))
    else:
        connection.execute(text(f"SET LOCAL work_mem = '{POSTGRESQL_WORK_MEM}'"))
        connection.execute(text(f"SET LOCAL random_page_cost = {POSTGRESQL_RANDOM_PAGE_COST}"))
    for table in META.sorted_tables:
        table.create(connection)


def drop(connection: Connection) -> None:
    for table in META.sorted_tables:
        connection.execute(text(f"DROP TABLE IF EXISTS {table.name}"))
    if connection.dialect.name == "sqlite":
        connection.execute(text("PRAGMA cache_size = -2000"))
        connection.execute(text("PRAGMA temp.cache_size = -2000"))


# From this many staged rows, they are analysed (`analyze`). Below, the planner's estimates from
# the tables' size chose plans as good (1 000 and 10 000 changed rows of 100 000, measured
# with and without), and the statistics cost 20–50 ms.
ANALYZE_STAGED_ROWS = 20_000


def analyze(connection: Connection) -> None:
    """Statistics for PostgreSQL's planner (temporary tables are never analysed by itself)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL default_statistics_target = 10"))
        for table in (stage_row, stage_client):
            connection.execute(text(f"ANALYZE {table.name}"))
        connection.execute(text("RESET default_statistics_target"))
