"""`foxden.db.hot.Hot`: text statements on the DBAPI cursor, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from foxden.db.engine import Database
from foxden.db.hot import Hot

_MAKE = "CREATE TABLE hot_t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, name TEXT)"
_ADD = Hot("INSERT INTO hot_t (id, n, name) VALUES (:id, :n, :name) RETURNING id, n + 1 AS more")
_BUMP = Hot("UPDATE hot_t SET n = n + :by WHERE id = :id")
_READ = Hot("SELECT id, n, name FROM hot_t WHERE n >= :least ORDER BY id")


def test_rows_are_named_and_the_statements_run_in_the_transaction(db_url: str) -> None:
    db = Database(db_url)
    try:
        with db.write() as conn:
            conn.exec_driver_sql(_MAKE)
            (made,) = _ADD.rows(conn, {"id": 1, "n": 5, "name": "a"})
            assert (made.id, made.more) == (1, 6)
            _ADD.rows(conn, {"id": 2, "n": 1, "name": None})
        seen: list[str] = []

        def statement(_c: Any, _cur: Any, sql: str, *_a: Any) -> None:
            seen.append(sql)

        event.listen(db.engine, "before_cursor_execute", statement)
        try:
            with db.write() as conn:
                assert _BUMP.run(conn, {"by": 10, "id": 2}) == 1
                assert _BUMP.run(conn, {"by": 10, "id": 99}) == 0
                bumped = [(r.id, r.n, r.name) for r in _READ.rows(conn, {"least": 6})]
                assert bumped == [(2, 11, None)]
                conn.rollback()  # the bump goes with its transaction
        finally:
            event.remove(db.engine, "before_cursor_execute", statement)
        assert len([sql for sql in seen if "hot_t" in sql]) == 3  # listeners see them
        with db.read() as conn:
            assert [tuple(r) for r in _READ.rows(conn, {"least": 0})] == [(1, 5, "a"), (2, 1, None)]
            assert _READ.first(conn, {"least": 100}) is None
    finally:
        db.dispose()
