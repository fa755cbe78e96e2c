"""Alembic environment: the engine comes from the caller (`bot.db.upgrade`) or DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from bot.models import Base

config = context.config


def _engine() -> Engine:
    engine = config.attributes.get("engine")
    if engine is None:
        from bot.db import make_engine
        from bot.settings import load_settings

        engine = make_engine(load_settings().database_url)
    return engine


def run_migrations_online() -> None:
    """On SQLite, a migration that changes a column rebuilds its table (Alembic's batch mode:
    a copy, then the old table dropped), which the foreign keys of the rows referring to it
    would refuse. SQLite's own procedure for such changes is followed: foreign keys off for
    the migration, every key checked before it commits (a violation stops it, and the whole
    migration is undone, table changes included), then on again."""
    with _engine().connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # outside any transaction, where the setting takes effect
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            # The driver opens a transaction only before it writes rows: the migration's
            # table changes too are to be undone by a rollback.
            connection.exec_driver_sql("BEGIN")
        try:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=sqlite,
            )
            with context.begin_transaction():
                context.run_migrations()
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        table, rowid, parent, _ = broken[0]
                        count = len(broken)
                        rows = (
                            "lignes de la base renvoient"
                            if count > 1
                            else "ligne de la base renvoie"
                        )
                        raise RuntimeError(  # read by whoever runs `m3 db upgrade`
                            f"migration annulée : {count} {rows} à des lignes absentes (la "
                            f"première : table {table}, ligne {rowid}, vers la table {parent})"
                        )
            connection.commit()
        finally:
            if sqlite:
                connection.rollback()
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")


run_migrations_online()
