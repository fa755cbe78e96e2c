from sqlalchemy import inspect


def test_migrations_create_every_table(engine):
    names = set(inspect(engine).get_table_names())
    assert {"client", "contract", "m3_case", "advisor", "audit_log", "alembic_version"} <= names
