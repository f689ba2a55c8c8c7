"""The database's writer thread (db/serial.py), on SQLite and PostgreSQL: calls queued
together commit together, each `Database.write()` of a call is its own savepoint, and a
transaction that breaks under one call is run again call by call, losing and doubling
nothing."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from sqlalchemy import Connection, event, text

from foxden.db.engine import Database, after_commit


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    key = "INTEGER PRIMARY KEY" if database.is_sqlite else "SERIAL PRIMARY KEY"
    with database.write() as conn:
        conn.exec_driver_sql(f"CREATE TABLE notes (id {key}, body TEXT NOT NULL)")
    yield database
    database.dispose()


def _transactions(db: Database) -> list[int]:
    """A list that grows by one at each write transaction the database begins."""
    begun: list[int] = []

    @event.listens_for(db.engine, "begin")
    def _count(_conn: Connection) -> None:
        begun.append(1)

    return begun


def _note(db: Database, body: str) -> int:
    with db.write() as conn:
        conn.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": body})
        return int(conn.execute(text("SELECT count(*) FROM notes")).scalar_one())


def _bodies(db: Database) -> list[str]:
    with db.read() as conn:
        return [r[0] for r in conn.execute(text("SELECT body FROM notes ORDER BY id"))]


def _queued_behind_a_gate(db: Database, *calls: Any) -> tuple[list[Future[Any]], threading.Event]:
    """Hold the writer in a first call while `calls` queue behind it, so they run together."""
    gate, holding = threading.Event(), threading.Event()

    def first() -> str:
        holding.set()
        assert gate.wait(10)
        return "first"

    futures = [db.serial.submit(first)]
    assert holding.wait(10)
    futures += [db.serial.submit(fn, *args) for fn, *args in calls]
    return futures, gate


def test_calls_waiting_together_commit_in_one_transaction(db: Database) -> None:
    begun = _transactions(db)
    futures, gate = _queued_behind_a_gate(db, *[(_note, db, f"n{i}") for i in range(5)])
    gate.set()
    results = [f.result(10) for f in futures]
    assert results == ["first", 1, 2, 3, 4, 5]  # each call read what the ones before it wrote
    assert len(begun) == 2  # the first call's transaction, then one for the five waiting
    assert _bodies(db) == [f"n{i}" for i in range(5)]


def test_a_failing_write_is_rolled_back_alone_and_its_after_commit_calls_dropped(
    db: Database,
) -> None:
    ran: list[str] = []

    def good(body: str) -> str:
        with db.write() as conn:
            conn.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": body})
            after_commit(conn, lambda: ran.append(body))
        return body

    def bad() -> None:
        with db.write() as conn:
            conn.execute(text("INSERT INTO notes (body) VALUES ('lost')"))
            after_commit(conn, lambda: ran.append("lost"))
            raise ValueError("refused")

    futures, gate = _queued_behind_a_gate(db, (good, "a"), (bad,), (good, "b"))
    gate.set()
    assert futures[1].result(10) == "a"
    with pytest.raises(ValueError, match="refused"):
        futures[2].result(10)
    assert futures[3].result(10) == "b"
    assert _bodies(db) == ["a", "b"]
    assert ran == ["a", "b"]


def test_a_call_that_ends_the_transaction_costs_the_others_nothing(db: Database) -> None:
    """A call whose statement ends SQLite's transaction (here an explicit ROLLBACK) breaks the
    batch: every call of it runs again in a transaction of its own, so each note is written
    exactly once and none is lost."""
    begun = _transactions(db)

    def breaker() -> str:
        with db.write() as conn:
            conn.exec_driver_sql("ROLLBACK")
        return "broke"

    futures, gate = _queued_behind_a_gate(
        db, (_note, db, "x"), (breaker,), (_note, db, "y"), (_note, db, "z")
    )
    gate.set()
    assert [f.result(10) for f in futures[1:]] == [1, "broke", 2, 3]
    assert len(begun) == 1 + 1 + 4  # the first call; the broken batch; each of its calls alone
    assert _bodies(db) == ["x", "y", "z"]


def test_reads_on_other_threads_do_not_see_a_batch_before_it_commits(db: Database) -> None:
    seen: list[list[str]] = []

    def write_then_look() -> None:
        with db.write() as conn:
            conn.execute(text("INSERT INTO notes (body) VALUES ('pending')"))
        other = threading.Thread(target=lambda: seen.append(_bodies(db)))
        other.start()
        other.join(10)

    db.serial.submit(write_then_look).result(10)
    assert seen == [[]]  # the savepoint was released, the transaction not yet committed
    assert _bodies(db) == ["pending"]


def test_dispose_lets_queued_calls_finish(db: Database) -> None:
    futures = [db.serial.submit(_note, db, str(i)) for i in range(20)]
    db.serial.stop()
    assert [f.result(0) for f in futures] == list(range(1, 21))


def test_a_failed_statement_a_call_swallows_costs_the_others_nothing(db: Database) -> None:
    """On PostgreSQL a failed statement aborts the transaction; a call that catches the error
    without its own savepoint leaves it so, as it would its own transaction: the batch runs
    again call by call, and only that call's transaction is lost (SQLite's outlives it)."""

    def swallower() -> str:
        with db.write() as conn, contextlib.suppress(Exception):
            conn.exec_driver_sql("SELECT * FROM no_such_table")
        return "swallowed"

    begun = _transactions(db)
    futures, gate = _queued_behind_a_gate(db, (_note, db, "x"), (swallower,), (_note, db, "y"))
    gate.set()
    assert futures[1].result(10) == 1
    assert futures[3].result(10) == 2
    assert futures[2].result(10) == "swallowed"  # as alone: its commit ends an aborted one
    assert len(begun) == (2 if db.is_sqlite else 2 + 3)  # PostgreSQL's batch ran again
    assert _bodies(db) == ["x", "y"]


def test_an_after_commit_call_that_raises_is_logged_and_nothing_runs_twice(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """What committed stays committed and answered: a failing after-commit call (a wake-up)
    must not make the batch look failed and run its calls again."""
    begun = _transactions(db)

    def noisy(body: str) -> int:
        count = _note(db, body)
        with db.write() as conn:
            after_commit(conn, lambda: 1 / 0)
        return count

    futures, gate = _queued_behind_a_gate(db, (_note, db, "a"), (noisy, "b"), (_note, db, "c"))
    with caplog.at_level(logging.ERROR, logger="foxden.db"):
        gate.set()
        assert [f.result(10) for f in futures[1:]] == [1, 2, 3]
    assert len(begun) == 2
    assert _bodies(db) == ["a", "b", "c"]
    assert any("after a commit" in r.getMessage() for r in caplog.records)


def test_a_disposed_database_still_takes_calls(db: Database) -> None:
    assert db.serial.submit(_note, db, "before").result(10) == 1
    db.dispose()
    assert db.serial.submit(_note, db, "after").result(10) == 2
    assert _bodies(db) == ["before", "after"]


def test_a_call_that_raises_before_any_statement_costs_the_others_nothing(db: Database) -> None:
    """On PostgreSQL a call's savepoint is sent with its first statement: a write block that
    raises before sending any has nothing to roll back, and the batch goes on (nested blocks
    too)."""
    begun = _transactions(db)

    def early() -> None:
        with db.write():
            raise ValueError("refused before any statement")

    def nested() -> str:
        with db.write() as conn:
            with contextlib.suppress(ValueError), db.write():
                raise ValueError("inner, before any statement")
            conn.execute(text("INSERT INTO notes (body) VALUES ('outer')"))
            with contextlib.suppress(ValueError), db.write() as inner:
                inner.execute(text("INSERT INTO notes (body) VALUES ('inner, undone')"))
                raise ValueError("inner, after a statement")
        return "nested"

    futures, gate = _queued_behind_a_gate(
        db, (_note, db, "a"), (early,), (nested,), (_note, db, "b")
    )
    gate.set()
    assert futures[1].result(10) == 1
    with pytest.raises(ValueError, match="before any statement"):
        futures[2].result(10)
    assert futures[3].result(10) == "nested"
    assert futures[4].result(10) == 3
    assert len(begun) == 2  # nothing broke the batch
    assert _bodies(db) == ["a", "outer", "b"]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # the setting is PostgreSQL's
def test_a_write_is_not_durable_unless_asked_even_when_its_setting_is_deferred(
    db: Database,
) -> None:
    """PostgreSQL: a write transaction's `synchronous_commit` is sent with its first statement;
    what that statement sees is already the transaction's setting."""
    with db.write(durable=False) as conn:
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "off"
    with db.write() as conn:
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"

    def durable_in_batch() -> str:
        with db.write() as conn:
            return str(conn.exec_driver_sql("SHOW synchronous_commit").scalar_one())

    def quick_in_batch() -> str:
        with db.write(durable=False) as conn:
            return str(conn.exec_driver_sql("SHOW synchronous_commit").scalar_one())

    assert db.serial.submit(quick_in_batch).result(10) == "off"
    assert db.serial.submit(durable_in_batch).result(10) == "on"
    with db.read() as conn:  # nothing deferred outlives its transaction on the pooled connection
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"
