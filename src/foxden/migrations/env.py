"""Alembic environment: runs migrations on the engine handed over by `foxden.db.migrate`.

On SQLite a batch migration copies a table and drops the old one; with foreign keys on, the drop
deletes every child row through `ON DELETE CASCADE` (a farm's tasks, frames and projects with its
accounts). So foreign keys are off while migrations run (SQLite's own advice for schema changes),
checked with `foreign_key_check` before the commit, and on again after.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection, Engine

from foxden.db.schema import metadata


def _sqlite_foreign_keys(connection: Connection, on: bool) -> None:
    raw: Any = connection.connection.driver_connection  # outside any transaction
    raw.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


engine: Engine = context.config.attributes["engine"]
with engine.connect() as connection:
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        _sqlite_foreign_keys(connection, False)
    try:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(
                        f"the migration left rows without their parents: {broken[:5]}"
                    )
        connection.commit()
    finally:
        if sqlite:
            connection.rollback()
            _sqlite_foreign_keys(connection, True)
