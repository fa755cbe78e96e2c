"""Writing many rows fast: `Loader` buffers rows for a table and writes them in batches with
the driver itself — `executemany` on SQLite, binary `COPY` on PostgreSQL — without SQLAlchemy's
per-row work; `reserve_ids` gives the ids of rows about to be inserted, so that they need no
`RETURNING`, and `new_ids` gives them within a set-wise statement; `foreign_keys_checked_after`
has PostgreSQL check a large load's foreign keys in one pass, and `indexes_built_after` has
both databases build a first load's plain indexes (PostgreSQL its unique constraints too) in
one sort. Used by the portfolio import and the case engine; never commits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Index,
    Table,
    case,
    func,
    inspect,
    literal_column,
    select,
    text,
)
from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)


class Loader:
    """Rows (tuples, in `columns` order) for a table, written a batch at a time. On SQLite the
    values go through the columns' SQLAlchemy bind processors (dates as text, JSON
    serialised…) unless `ready` says they already are what the driver takes. What a processor
    made of a value is remembered (a column's dates and flags repeat: the cases of an import
    share a few hundred dates), up to `REMEMBERED` values a column."""

    BATCH = 5000
    REMEMBERED = 4096

    def __init__(
        self,
        connection: Connection,
        table: Table,
        columns: Sequence[str],
        *,
        ready: bool = False,
    ) -> None:
        self.connection = connection
        self.buffer: list[tuple[Any, ...]] = []
        self.count = 0
        names = ", ".join(columns)
        dialect = connection.dialect
        self.postgresql = dialect.name == "postgresql"
        self.convert: list[tuple[int, Callable[[Any], Any], dict[Any, Any]]] = []
        if self.postgresql:
            # Binary: the server parses nothing (a first import's staged rows: 0.29 s against
            # 0.41 s in text, on this process alone while another reads the file).
            self.statement = f"COPY {table.name} ({names}) FROM STDIN (FORMAT BINARY)"
            self.columns_query = f"SELECT {names} FROM {table.name} LIMIT 0"
            self.types: list[int] = []  # the columns' type oids, read at the first write
            if not ready:
                self.convert = [
                    (index, _json_text, {})
                    for index, name in enumerate(columns)
                    if isinstance(table.c[name].type, JSON)
                ]
        else:
            marks = ", ".join("?" for _ in columns)
            self.statement = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"
            if not ready:
                for index, name in enumerate(columns):
                    processor = table.c[name].type._cached_bind_processor(dialect)
                    if processor is not None:
                        self.convert.append((index, processor, {}))

    def add(self, row: tuple[Any, ...]) -> None:
        self.buffer.append(row)
        if len(self.buffer) >= self.BATCH:
            self.flush()

    def extend(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self.buffer.extend(rows)
        if len(self.buffer) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        rows = self.buffer
        if self.convert:
            rows = [self._converted(row) for row in rows]
        raw = self.connection.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            if self.postgresql:
                types = self.types or self._types(cursor)
                with cursor.copy(self.statement) as copy:
                    copy.set_types(types)
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(self.statement, rows)
        finally:
            cursor.close()
        self.count += len(self.buffer)
        self.buffer.clear()  # in place: callers may append to it directly

    def _types(self, cursor: Any) -> list[int]:
        """The oids of the columns, as the server has them (binary values must be of the
        column's own type). A `json` column's binary form is its text: the JSON, serialised
        already, goes as `text`."""
        cursor.execute(self.columns_query)
        self.types = [
            TEXT_OID if column.type_code == JSON_OID else column.type_code
            for column in cursor.description
        ]
        return self.types

    def _converted(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        values = list(row)
        for index, convert, known in self.convert:
            value = values[index]
            if value is None:
                continue
            try:
                found = known.get(value, _MISSING)
            except TypeError:  # unhashable (a JSON list): converted each time
                values[index] = convert(value)
                continue
            if found is _MISSING:
                if len(known) >= self.REMEMBERED:
                    known.clear()
                found = known[value] = convert(value)
            values[index] = found
        return tuple(values)


_MISSING = object()
TEXT_OID, JSON_OID = 25, 114  # PostgreSQL's `text` and `json`


def _json_text(value: Any) -> Any:
    return value if isinstance(value, str) else json.dumps(value)


def reserve_ids(connection: Connection, table: Table, count: int) -> list[int]:
    """`count` ids for new rows of `table` (an integer primary key `id`). PostgreSQL takes
    them from the table's sequence; on SQLite the caller's transaction must already hold the
    write lock (it has written), so that the ids after the largest stay free until it
    commits."""
    if count <= 0:
        return []
    if connection.dialect.name == "postgresql":
        return list(
            connection.execute(
                select(_next_id(connection, table)).select_from(func.generate_series(1, count))
            ).scalars()
        )
    largest = connection.execute(select(func.max(table.c.id))).scalar() or 0
    return list(range(largest + 1, largest + 1 + count))


def new_ids(connection: Connection, table: Table, *, existing: Any, order_by: Any) -> Any:
    """The id of each row of a set-wise select that stages rows for `table`: `existing` (an
    id, or NULL for a row to insert), else a fresh id, given in `order_by`'s order (the
    select must be ordered by it). PostgreSQL takes them from the table's sequence (`nextval`,
    evaluated for the new rows alone, after the sort); SQLite numbers them after the largest
    id, on the condition `reserve_ids` states."""
    new = existing.is_(None)
    fresh: Any
    if connection.dialect.name == "postgresql":
        fresh = _next_id(connection, table)
    else:
        largest = connection.execute(select(func.max(table.c.id))).scalar() or 0
        fresh = func.row_number().over(partition_by=new, order_by=order_by) + largest
    return case((new, fresh), else_=existing)


def _next_id(connection: Connection, table: Table) -> Any:
    """`nextval` of the sequence of `table`'s id (PostgreSQL), named by its oid: looked up
    here once, not once a row (`pg_get_serial_sequence` in the statement cost 4 µs a row,
    six times the `nextval` itself)."""
    oid = connection.execute(
        text("SELECT CAST(CAST(pg_get_serial_sequence(:table, 'id') AS regclass) AS oid)"),
        {"table": table.name},
    ).scalar_one()
    return func.nextval(literal_column(str(int(oid))))


# From this many new rows, PostgreSQL checks a table's foreign keys once after the load
# rather than row by row (a trigger and an index lookup a row, about two thirds of the time
# of a first import's `INSERT … SELECT` into `contract`).
BULK_CHECK_ROWS = 20_000
# How long a large load waits for the tables before it keeps the row-by-row checks.
BULK_LOCK_WAIT = "3s"


@contextmanager
def foreign_keys_checked_after(connection: Connection, table: Table, rows: int) -> Iterator[None]:
    """Around the load of `rows` new rows into `table`: on PostgreSQL, from `BULK_CHECK_ROWS`
    rows, the table's foreign keys are dropped and added back after the load, which checks
    every row in one pass (PostgreSQL's advice for populating a database). A violation fails
    the statement that adds the key back, and the rolled-back transaction restores the keys:
    DDL is transactional there. The table and those it refers to are then held exclusively
    until the import commits (the queues wait a few seconds, the time of a first import);
    when another transaction holds them for more than `BULK_LOCK_WAIT`, the load keeps the
    row-by-row checks. Elsewhere, or for fewer rows, nothing changes."""
    if connection.dialect.name != "postgresql" or rows < BULK_CHECK_ROWS:
        yield
        return
    keys = _constraints(connection, table, "f")
    dropped = bool(keys) and _dropped_without_waiting(
        connection, _drop_constraints(table, keys), f"foreign keys of {table.name}"
    )
    yield
    if dropped:
        _add_constraints(connection, table, keys)


@contextmanager
def indexes_built_after(connection: Connection, table: Table, rows: int) -> Iterator[None]:
    """Around the load of `rows` new rows into `table`: from `BULK_CHECK_ROWS` rows, and when
    the table holds fewer rows than the load brings (a first import), its plain indexes
    (neither unique nor partial: those check or choose rows) are dropped and built again after
    the load, one sort each instead of an insertion a row. At 100 000 contracts, the
    `INSERT … SELECT` with its indexes took 0.6–0.9 s on SQLite, 0.5–0.7 s with the two built
    after; on PostgreSQL, the whole step (the insert, the keys added back as above, the
    indexes built) 0.76–1.30 s, 0.64–0.96 s (six first imports each, alternated).
    On PostgreSQL the table's unique constraints (the client and contract numbers) are added
    back after the load too, which checks them in one sort: a duplicate the load brought fails
    that statement, and the transaction with it (SQLite cannot drop a constraint). The
    contracts' step went from 0.49–0.53 s to 0.38–0.39 s, the clients' from 0.30–0.31 s to
    0.27–0.28 s (three first imports each).
    DDL is transactional: a failed load gets them back with its rollback. On SQLite, once
    the transaction has begun (the driver begins it at the first write: before, a `DROP
    INDEX` would be committed at once, and nothing changes). On PostgreSQL the table is then
    held exclusively until the import commits; when another transaction holds it for more
    than `BULK_LOCK_WAIT`, the indexes stay (as the keys do)."""
    postgresql = connection.dialect.name == "postgresql"
    raw = connection.connection.dbapi_connection
    begun = postgresql or getattr(raw, "in_transaction", False)
    if rows < BULK_CHECK_ROWS or not begun:
        yield
        return
    first_rows = select(text("1")).select_from(table).limit(rows).subquery()
    if connection.execute(select(func.count()).select_from(first_rows)).scalar_one() >= rows:
        yield
        return
    existing = {index["name"] for index in inspect(connection).get_indexes(table.name)}
    plain = sorted(
        (index for index in table.indexes if _plain(index) and index.name in existing),
        key=lambda index: str(index.name),
    )
    drops = [f"DROP INDEX {index.name}" for index in plain]
    unique: Sequence[tuple[str, str]] = ()
    if postgresql:
        unique = _constraints(connection, table, "u")
        drops += _drop_constraints(table, unique)
    if not drops:
        dropped = False
    elif postgresql:
        dropped = _dropped_without_waiting(connection, drops, f"indexes of {table.name}")
    else:
        for drop in drops:
            connection.execute(text(drop))
        dropped = True
    yield
    if dropped:
        for index in plain:
            index.create(connection)
        _add_constraints(connection, table, unique)


def _constraints(connection: Connection, table: Table, kind: str) -> list[tuple[str, str]]:
    """The name and definition of each constraint of `table` of that `kind` (PostgreSQL's
    `contype`: `f` a foreign key, `u` unique), to drop and add back as they were."""
    found = connection.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:table AS regclass) AND contype = :kind ORDER BY conname"
        ),
        {"table": table.name, "kind": kind},
    )
    return [(name, definition) for name, definition in found]


def _drop_constraints(table: Table, constraints: Sequence[tuple[str, str]]) -> list[str]:
    return [f'ALTER TABLE {table.name} DROP CONSTRAINT "{name}"' for name, _ in constraints]


def _add_constraints(
    connection: Connection, table: Table, constraints: Sequence[tuple[str, str]]
) -> None:
    for name, definition in constraints:
        connection.execute(text(f'ALTER TABLE {table.name} ADD CONSTRAINT "{name}" {definition}'))


def _dropped_without_waiting(connection: Connection, statements: list[str], what: str) -> bool:
    """Run the `DROP` statements (PostgreSQL) in a savepoint, waiting at most `BULK_LOCK_WAIT`
    for the tables' locks; False (nothing dropped) when another transaction held them longer.
    The connection's own lock wait is restored either way."""
    wait = "SELECT set_config('lock_timeout', :wait, true)"
    before = connection.execute(text("SELECT current_setting('lock_timeout')")).scalar_one()
    savepoint = connection.begin_nested()
    try:
        connection.execute(text(wait), {"wait": BULK_LOCK_WAIT})
        for statement in statements:
            connection.execute(text(statement))
        connection.execute(text(wait), {"wait": before})
    except OperationalError as exc:  # the tables are busy: kept
        savepoint.rollback()
        log.info("%s kept during the load: %s", what, exc.orig)
        return False
    savepoint.commit()
    return True


def _plain(index: Index) -> bool:
    return not index.unique and not any(
        index.dialect_options[dialect].get("where") is not None
        for dialect in ("sqlite", "postgresql")
    )
