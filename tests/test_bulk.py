"""`bot.bulk.Loader`: what it writes reads back as the values it was given, on SQLite and on
PostgreSQL, whether a value was converted afresh or remembered from an earlier row."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    select,
)

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
                f"libellé {number % 3}",
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
