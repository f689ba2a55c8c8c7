"""Alembic environment: runs migrations on the engine handed over by `foxden.db.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from foxden.db.schema import metadata

engine: Engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
