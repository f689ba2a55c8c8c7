"""`foxden.db.hot.Batch`: statements sent together (one round trip on PostgreSQL), results
read when the batch is over, and a connection that stays usable when one of them fails."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import psycopg
import pytest

from foxden.db.engine import Database
from foxden.db.hot import Hot, batch
from foxden.db.migrate import upgrade

_PUT = Hot("INSERT INTO limits (name, max_running, updated_at) VALUES (:name, :n, 0)")
_BUMP = Hot(
    "UPDATE limits SET max_running = max_running + 1 WHERE name = :name RETURNING max_running"
)
DRIVER_ERRORS = (sqlite3.Error, psycopg.Error)  # a `Hot` statement's errors are the driver's
_ALL = Hot("SELECT name, max_running FROM limits ORDER BY name")


@pytest.fixture(name="db")
def db_fixture(db_url: str) -> Iterator[Database]:
    db = Database(db_url, pool_size=2)
    upgrade(db)
    yield db
    db.dispose()


def test_results_are_read_when_the_batch_is_over(db: Database) -> None:
    with db.write() as conn, batch(conn) as b:
        put = b.send(_PUT, {"name": "a", "n": 1})
        bumped = b.send(_BUMP, {"name": "a"})
        seen: list[int] = []
        b.later(lambda: bool(seen.append(bumped.first().max_running)))
        listed = b.send(_ALL, {})
        assert b.pipelined is (db.dialect == "postgresql")
    assert put.count() == 1
    assert seen == [2]  # the later call ran once the results were in
    assert [(r.name, r.max_running) for r in listed.rows()] == [("a", 2)]  # in order
    assert not b.late_writes


def test_sync_ends_the_pipeline_for_what_follows(db: Database) -> None:
    with db.write() as conn, batch(conn) as b:
        b.send(_PUT, {"name": "a", "n": 1})
        b.sync()
        assert not b.pipelined
        row = conn.exec_driver_sql("SELECT max_running FROM limits").one()  # SQLAlchemy again
        assert row[0] == 1


def test_a_failed_statement_rolls_back_and_the_connection_serves_again(db: Database) -> None:
    with db.write() as conn, batch(conn) as b:
        b.send(_PUT, {"name": "a", "n": 1})
    with pytest.raises(DRIVER_ERRORS), db.write() as conn, batch(conn) as b:
        b.send(_PUT, {"name": "b", "n": 1})
        b.send(_PUT, {"name": "a", "n": 2})  # the name is taken
    with pytest.raises(RuntimeError), db.write() as conn, batch(conn) as b:
        b.send(_PUT, {"name": "c", "n": 1})
        raise RuntimeError("the caller fails while statements are queued")
    for _ in range(3):  # every pooled connection
        with db.write() as conn, batch(conn) as b:
            listed = b.send(_ALL, {})
        assert [r.name for r in listed.rows()] == ["a"]
