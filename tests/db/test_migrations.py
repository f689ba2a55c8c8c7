"""Migrations build exactly the declared schema on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from foxden.db.engine import Database
from foxden.db.migrate import upgrade
from foxden.db.schema import metadata


def test_migrations_match_the_declared_schema(db_url: str) -> None:
    db = Database(db_url)
    try:
        upgrade(db)
        upgrade(db)  # idempotent
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
    finally:
        db.dispose()
