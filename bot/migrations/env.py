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
    with _engine().connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
