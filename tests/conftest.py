"""Fixtures for every test: the sample exports, and a migrated database on SQLite and, when
`TEST_DATABASE_URL` is set, on PostgreSQL too (each test run in its own schema)."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from bot import db
from bot.cli import app
from bot.models import Base

DATA = Path(__file__).resolve().parent / "data"
SAMPLE = DATA / "sample"

pytest_plugins = ["tests.slackkit"]

IMPORT_DAY = "2026-11-23"

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The CRM's sample exports (tests/data/sample, see tests/data/README.md)."""
    return SAMPLE


def _postgres_url() -> str:
    url = os.environ["TEST_DATABASE_URL"]
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    return url


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database for the whole run, as a URL the CLI can use too."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "m3-test.db"
        yield f"sqlite:///{path}"
        return
    schema = f"m3test_{uuid.uuid4().hex[:10]}"
    admin = db.make_engine(_postgres_url())
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{_postgres_url()}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def migrated_engine(database_url: str) -> Iterator[Engine]:
    """The database, upgraded through the real migrations."""
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


def empty(engine: Engine) -> None:
    """Every table emptied (PostgreSQL's ids start again from 1)."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())


@pytest.fixture
def engine(migrated_engine: Engine) -> Iterator[Engine]:
    """The backend's engine, emptied after each test."""
    yield migrated_engine
    empty(migrated_engine)


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return db.session_factory(engine)


@pytest.fixture
def session(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory.begin() as session:
        yield session


def D(year: int, month: int, day: int) -> dt.date:
    return dt.date(year, month, day)


class M3:
    """Runs `m3` against the test database with a frozen "today"."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def __call__(self, *args: str, today: str = IMPORT_DAY) -> Any:
        runner = CliRunner()
        return runner.invoke(
            app,
            list(args),
            # No `COLUMNS` (pytest-xdist's workers set 80): a table in a pipe is printed at its
            # natural width, as for a user piping `m3`; the tests of narrow terminals set it.
            env={"DATABASE_URL": self.database_url, "M3_TODAY": today, "COLUMNS": None},
            catch_exceptions=False,
        )

    def json(self, *args: str, today: str = IMPORT_DAY) -> Any:
        result = self(*args, "--json", today=today)
        return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def m3(engine: Engine, database_url: str) -> M3:
    return M3(database_url)


@pytest.fixture
def loaded(m3: M3, sample_dir: Path) -> M3:
    """The sample advisors and portfolio, imported through the CLI on IMPORT_DAY."""
    assert m3("import", "advisors", str(sample_dir / "advisors.csv")).exit_code == 0
    code, summary = m3.json("import", "portfolio", str(sample_dir / "portfolio.csv"))
    assert code == 0, summary["rejected"]
    return m3
