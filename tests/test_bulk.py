"""`bot.bulk`, on SQLite and PostgreSQL: what `Loader` writes reads back as the values it was
given, whether a value was converted afresh or remembered from an earlier row; a large load on
PostgreSQL has its foreign keys checked once after it, and keeps them whatever happens; a first
large load has its plain indexes (and on PostgreSQL its unique constraints) built after it, and
gets them back whatever happens (on PostgreSQL, a busy table keeps them)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    UniqueConstraint,
    func,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError

from bot import bulk, db
from bot.bulk import Loader

META = MetaData()
SAMPLE = Table(
    "m3_test_bulk",
    META,
    Column("id", Integer, primary_key=True),
    Column("day", Date),
    Column("at", DateTime(timezone=True)),
    Column("flag", Boolean),
    Column("amount", Numeric(12, 2)),
    Column("label", String(20)),
    Column("pieces", JSON),
)
COLUMNS = ("id", "day", "at", "flag", "amount", "label", "pieces")


class SmallMemory(Loader):
    BATCH = 7  # several flushes
    REMEMBERED = 3  # the memory of each column fills and starts afresh, more than once


@pytest.fixture
def sample_table(engine: Engine) -> Iterator[Table]:
    META.create_all(engine)
    yield SAMPLE
    META.drop_all(engine)


def rows() -> list[tuple[Any, ...]]:
    """Repeated and distinct values in every converted column, NULLs among them."""
    start = dt.date(2026, 1, 30)
    at = dt.datetime(2026, 11, 26, 7, 30, 15, 123456, tzinfo=dt.UTC)
    out: list[tuple[Any, ...]] = []
    for number in range(40):
        out.append(
            (
                number + 1,
                None if number % 9 == 0 else start + dt.timedelta(days=number % 6),
                at + dt.timedelta(minutes=number % 5),
                [True, False, None][number % 3],
                None if number % 8 == 0 else Decimal(f"{number % 4}.{number % 10}0"),
                # What COPY's text format would have to escape: tab, backslash, line end.
                f"libellé {number % 3}" + ("\t\\N\r\n" if number % 4 == 0 else ""),
                None if number % 7 == 0 else [f"pièce {number % 2}", "RIB"],
            )
        )
    return out


def test_loader_writes_what_it_was_given(engine: Engine, sample_table: Table) -> None:
    given = rows()
    with engine.begin() as connection:
        loader = SmallMemory(connection, sample_table, COLUMNS)
        for row in given:
            loader.add(row)
        loader.flush()
        assert loader.count == len(given)
    with engine.connect() as connection:
        read = connection.execute(select(sample_table).order_by(sample_table.c.id)).all()
    assert len(read) == len(given)
    for wrote, found in zip(given, read, strict=True):
        number, day, at, flag, amount, label, pieces = wrote
        assert found.id == number
        assert found.day == day
        # SQLite keeps no time zone: the UTC wall time comes back.
        assert found.at.replace(tzinfo=None) == at.replace(tzinfo=None)
        assert found.flag is flag
        assert found.amount == amount
        assert found.label == label
        assert found.pieces == pieces


def test_a_ready_loader_takes_json_already_serialised(engine: Engine, sample_table: Table) -> None:
    """The importer gives its JSON as text (`ready`): stored as the JSON it is, not as a
    string of it."""
    given = [(1, "libellé", json.dumps(["CNI", "pièce"])), (2, "", json.dumps([])), (3, None, None)]
    with engine.begin() as connection:
        loader = Loader(connection, sample_table, ("id", "label", "pieces"), ready=True)
        loader.extend(given)
        loader.flush()
    with engine.connect() as connection:
        read = connection.execute(
            select(sample_table.c.label, sample_table.c.pieces).order_by(sample_table.c.id)
        ).all()
    assert [tuple(row) for row in read] == [("libellé", ["CNI", "pièce"]), ("", []), (None, None)]


# --- Foreign keys checked after a large load (PostgreSQL) ---------------------------------------

PARENT = Table("m3_test_parent", META, Column("id", Integer, primary_key=True))
CHILD = Table(
    "m3_test_child",
    META,
    Column("id", Integer, primary_key=True),
    Column("parent_id", Integer, ForeignKey("m3_test_parent.id", name="fk_test_child_parent")),
)


def foreign_keys(connection: Connection, table: str) -> list[tuple[str, str]]:
    if connection.dialect.name != "postgresql":
        # A statement on the table first: SQLite's pragmas read the schema this connection
        # last loaded, which may predate the table (the tests create and drop theirs).
        connection.execute(text(f"SELECT count(*) FROM {table}"))
        return [
            (f"{row[2]}.{row[4]}", row[3])
            for row in connection.execute(text(f"PRAGMA foreign_key_list({table})"))
        ]
    return [
        (name, definition)
        for name, definition in connection.execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = CAST(:table AS regclass) AND contype = 'f'"
            ),
            {"table": table},
        )
    ]


@pytest.fixture
def family(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setattr(bulk, "BULK_CHECK_ROWS", 3)
    META.create_all(engine)
    with engine.begin() as connection:
        connection.execute(PARENT.insert(), [{"id": i} for i in range(1, 4)])
    yield engine
    META.drop_all(engine)


def load_children(connection: Connection, parents: list[int]) -> None:
    connection.execute(
        CHILD.insert(), [{"id": i, "parent_id": p} for i, p in enumerate(parents, start=1)]
    )


def test_a_large_load_has_its_keys_checked_after(family: Engine) -> None:
    with family.connect() as connection:
        before = foreign_keys(connection, CHILD.name)
    assert len(before) == 1
    with family.begin() as connection:
        with bulk.foreign_keys_checked_after(connection, CHILD, rows=3):
            during = foreign_keys(connection, CHILD.name)
            load_children(connection, [1, 2, 3])
            if family.dialect.name == "postgresql":  # the short wait was for the keys only
                setting = "SELECT current_setting('lock_timeout')"
                assert connection.execute(text(setting)).scalar() == "0"
        after = foreign_keys(connection, CHILD.name)
    if family.dialect.name == "postgresql":
        assert during == []  # checked once, after the load
    else:
        assert during == before  # SQLite: nothing changes
    assert after == before


def test_a_small_load_keeps_the_row_by_row_checks(family: Engine) -> None:
    with family.begin() as connection:
        before = foreign_keys(connection, CHILD.name)
        with bulk.foreign_keys_checked_after(connection, CHILD, rows=2):
            assert foreign_keys(connection, CHILD.name) == before
            load_children(connection, [1, 2])


def test_a_violation_fails_the_load_and_the_keys_stay(family: Engine) -> None:
    with family.connect() as connection:
        before = foreign_keys(connection, CHILD.name)
    with (
        pytest.raises(IntegrityError),
        family.begin() as connection,
        bulk.foreign_keys_checked_after(connection, CHILD, rows=3),
    ):
        load_children(connection, [1, 2, 99])  # no parent 99
    with family.connect() as connection:
        assert foreign_keys(connection, CHILD.name) == before
        assert connection.execute(select(func.count()).select_from(CHILD)).scalar() == 0


def test_busy_tables_keep_the_row_by_row_checks(
    family: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another transaction reads the parent table: the load does not wait for it past
    `BULK_LOCK_WAIT`, it keeps the keys and checks row by row (SQLite always does)."""
    postgresql = family.dialect.name == "postgresql"
    monkeypatch.setattr(bulk, "BULK_LOCK_WAIT", "200ms")
    with family.connect() as reader, family.begin() as connection:
        reader.execute(select(PARENT.c.id)).all()  # holds the table until it ends
        before = foreign_keys(connection, CHILD.name)
        with bulk.foreign_keys_checked_after(connection, CHILD, rows=3):
            assert foreign_keys(connection, CHILD.name) == before
            with pytest.raises(IntegrityError), connection.begin_nested():
                load_children(connection, [1, 99, 2])  # refused at once, row by row
            load_children(connection, [1, 2, 3])
        if postgresql:
            setting = connection.execute(text("SELECT current_setting('lock_timeout')")).scalar()
            assert setting == "0"  # the short wait was for the keys only
        reader.rollback()


# --- Plain indexes built after a first large load -----------------------------------------------

INDEXED = Table(
    "m3_test_indexed",
    META,
    Column("id", Integer, primary_key=True),
    Column("code", String(10), nullable=False),
    Column("group_id", Integer),
    Column("current", Boolean, nullable=False),
    Column("serial", String(10), nullable=False),
    UniqueConstraint("serial", name="uq_test_indexed_serial"),
    Index("ix_test_indexed_group", "group_id"),
    Index("uq_test_indexed_code", "code", unique=True),
    Index(
        "ix_test_indexed_current",
        "group_id",
        sqlite_where=text("current"),
        postgresql_where=text("current"),
    ),
)


def indexes(connection: Connection) -> list[str]:
    """The indexes of `INDEXED` as the database has them (their definitions)."""
    if connection.dialect.name != "postgresql":
        query = "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"
    else:
        query = (
            "SELECT indexdef FROM pg_indexes WHERE tablename = :t AND schemaname = current_schema()"
        )
    return sorted(str(row[0]) for row in connection.execute(text(query), {"t": INDEXED.name}))


def load_indexed(connection: Connection, numbers: range) -> None:
    connection.execute(
        INDEXED.insert(),
        [
            {"code": f"C{n}", "group_id": n % 3, "current": n % 2 == 0, "serial": f"S{n}"}
            for n in numbers
        ],
    )


@pytest.fixture
def indexed(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setattr(bulk, "BULK_CHECK_ROWS", 3)
    META.create_all(engine)
    yield engine
    META.drop_all(engine)


def test_a_first_large_load_builds_the_plain_indexes_after(indexed: Engine) -> None:
    with indexed.begin() as connection:
        before = indexes(connection)
        load_indexed(connection, range(100, 101))  # the transaction has written: it has begun
        with bulk.indexes_built_after(connection, INDEXED, rows=4):
            during = indexes(connection)
            load_indexed(connection, range(4))
        after = indexes(connection)
        if indexed.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL enable_seqscan = off"))
        explain = "EXPLAIN QUERY PLAN" if indexed.dialect.name == "sqlite" else "EXPLAIN"
        plan = connection.execute(
            text(f"{explain} SELECT id FROM {INDEXED.name} WHERE group_id = 1")
        ).all()
    assert len(before) >= 4
    assert after == before
    # The plain one is dropped, and on PostgreSQL the unique constraint (added back after the
    # load, which checks it); the unique index checks the rows as they come, the partial one
    # chooses them.
    rebuilt = ["ix_test_indexed_group"]
    if indexed.dialect.name == "postgresql":
        rebuilt.append("uq_test_indexed_serial")
    assert [d for d in before if d not in during] == [
        d for d in before if any(name in d for name in rebuilt)
    ]
    assert any("ix_test_indexed_group" in str(row) for row in plan)  # in use again


def test_a_small_load_or_a_large_table_keeps_the_indexes(indexed: Engine) -> None:
    with indexed.begin() as connection:
        before = indexes(connection)
        with bulk.indexes_built_after(connection, INDEXED, rows=2):  # fewer than 3 rows
            assert indexes(connection) == before
            load_indexed(connection, range(2))
        load_indexed(connection, range(2, 6))
        with bulk.indexes_built_after(connection, INDEXED, rows=4):  # 6 rows there already
            assert indexes(connection) == before
            load_indexed(connection, range(6, 10))


def test_a_failed_load_gets_its_indexes_back(indexed: Engine) -> None:
    with indexed.connect() as connection:
        before = indexes(connection)
    with pytest.raises(IntegrityError), indexed.begin() as connection:
        load_indexed(connection, range(100, 101))
        with bulk.indexes_built_after(connection, INDEXED, rows=4):
            assert len(indexes(connection)) < len(before)
            load_indexed(connection, range(3))
            load_indexed(connection, range(2, 3))  # the same code again: the unique index says no
    with indexed.connect() as connection:
        assert indexes(connection) == before
        assert connection.execute(select(func.count()).select_from(INDEXED)).scalar() == 0


def test_a_duplicate_under_a_unique_constraint_fails_the_load(indexed: Engine) -> None:
    """On PostgreSQL the constraint is added back after the load: a duplicate the load brought
    fails it there, and the rollback restores the constraint (elsewhere the row is refused at
    once); nothing is written either way."""
    with indexed.connect() as connection:
        before = indexes(connection)
    with pytest.raises(IntegrityError) as raised, indexed.begin() as connection:
        load_indexed(connection, range(100, 101))
        with bulk.indexes_built_after(connection, INDEXED, rows=4):
            load_indexed(connection, range(3))
            connection.execute(
                INDEXED.insert().values(code="C7", group_id=1, current=True, serial="S1")
            )
    assert "serial" in str(raised.value)
    with indexed.connect() as connection:
        assert indexes(connection) == before
        assert connection.execute(select(func.count()).select_from(INDEXED)).scalar() == 0


def test_indexes_stay_until_the_transaction_has_begun(indexed: Engine) -> None:
    """SQLite's driver begins a transaction at its first write: a `DROP INDEX` before it
    would be committed at once, beyond a rollback's reach. (PostgreSQL's driver begins one
    before any statement.)"""
    if indexed.dialect.name != "sqlite":
        pytest.skip("SQLite's driver")
    with indexed.begin() as connection:
        before = indexes(connection)
        with bulk.indexes_built_after(connection, INDEXED, rows=4):
            assert indexes(connection) == before
            load_indexed(connection, range(4))


def test_a_busy_table_keeps_its_indexes(indexed: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another transaction reads the table: on PostgreSQL the load does not wait for it past
    `BULK_LOCK_WAIT` to drop the indexes, it keeps them, and its own lock wait is as before."""
    if indexed.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: no reader holds a table against it")
    monkeypatch.setattr(bulk, "BULK_LOCK_WAIT", "200ms")
    with indexed.connect() as reader, indexed.begin() as connection:
        reader.execute(select(INDEXED.c.id)).all()  # holds the table until it ends
        connection.execute(text("SET LOCAL lock_timeout = '5s'"))  # the caller's own
        before = indexes(connection)
        with bulk.indexes_built_after(connection, INDEXED, rows=4):
            assert indexes(connection) == before
            load_indexed(connection, range(4))
        assert indexes(connection) == before
        setting = connection.execute(text("SELECT current_setting('lock_timeout')")).scalar()
        assert setting == "5s"
        reader.rollback()
    with indexed.connect() as connection:
        assert connection.execute(select(func.count()).select_from(INDEXED)).scalar() == 4


# --- Ids given within a set-wise statement ---------------------------------------------------

SOURCE = Table("m3_test_source", META, Column("code", String(10), primary_key=True))


def test_new_ids_follow_the_largest_in_order_and_keep_the_existing(indexed: Engine) -> None:
    """The rows to insert get the ids after the largest, in the order asked for (the codes),
    whatever order the source holds them in; the rows already there keep theirs; and the ids
    the table gives afterwards go on after them."""
    with indexed.begin() as connection:
        load_indexed(connection, range(5, 6))  # C5
        load_indexed(connection, range(2, 3))  # C2
        existing = dict(connection.execute(select(INDEXED.c.code, INDEXED.c.id)).all())
        largest = max(existing.values())
        connection.execute(SOURCE.insert(), [{"code": c} for c in ("C9", "C2", "C1", "C5", "C7")])
        given = bulk.new_ids(connection, INDEXED, existing=INDEXED.c.id, order_by=SOURCE.c.code)
        found = connection.execute(
            select(SOURCE.c.code, given)
            .outerjoin(INDEXED, INDEXED.c.code == SOURCE.c.code)
            .order_by(SOURCE.c.code)
        ).all()
        assert found == [
            ("C1", largest + 1),
            ("C2", existing["C2"]),
            ("C5", existing["C5"]),
            ("C7", largest + 2),
            ("C9", largest + 3),
        ]
        connection.execute(
            INDEXED.insert(),
            [
                {"id": i, "code": code, "current": True, "serial": f"S{code}"}
                for code, i in found
                if code not in existing
            ],
        )
        load_indexed(connection, range(20, 21))  # an id from the table itself
        after = connection.execute(select(INDEXED.c.id).where(INDEXED.c.code == "C20")).scalar_one()
    assert after == largest + 4


def test_sqlite_binds_none_and_booleans_as_they_are(tmp_path: Path) -> None:
    """`None` and `bool` parameters skip `sqlite3`'s adaptation protocol (on Python 3.11
    each miss of it raises and formats an `AttributeError`), and are stored as before: NULL,
    and the integers 1 and 0."""
    import sqlite3

    engine = db.make_engine(f"sqlite:///{tmp_path / 'bind.db'}")
    assert (type(None), sqlite3.PrepareProtocol) in sqlite3.adapters
    assert (bool, sqlite3.PrepareProtocol) in sqlite3.adapters
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        cursor.execute("SELECT ?, typeof(?), ?, typeof(?), ?", (None, None, True, True, False))
        assert cursor.fetchone() == (None, "null", 1, "integer", 0)
        cursor.close()
    engine.dispose()
