"""Engine, sessions and migrations.

Sessions are opened at the edge (CLI command, Slack handler, job) with `session_scope()`;
the functions that query take the session as an argument and never commit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
_T = TypeVar("_T")


def chunked(items: Sequence[_T], size: int = 900) -> Iterator[Sequence[_T]]:
    """Slices short enough for an `IN (…)` list on every backend (SQLite caps parameters)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def make_engine(url: str, **kwargs: object) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to `revision` (`m3 db upgrade`)."""
    command.upgrade(alembic_config(engine), revision)


def ensure_schema(engine: Engine) -> None:
    """Bring a SQLite database up to date on use (a new file, or one from an older version);
    PostgreSQL is upgraded by `m3 db upgrade` (the Procfile's release step)."""
    if engine.dialect.name != "sqlite":
        return
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current != head:
        upgrade(engine)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: committed on success, rolled back on any error."""
    with factory.begin() as session:
        yield session
