"""Hot statements: text SQL run straight on the DBAPI cursor of a SQLAlchemy connection.

The worker protocol runs a dozen small statements per frame (`foxden.farm.scheduler`). Through
`Connection.execute` each costs about 30 µs of SQLAlchemy (compiled-cache lookup, execution
context, result metadata) on top of a few µs in the driver; a `Hot` statement skips that: its
text is rendered once per dialect (`:name` parameters stay as they are on SQLite, whose driver
takes them; PostgreSQL's become `%(name)s`), it runs on the connection's own DBAPI cursor, so in
its transaction, and its rows are named tuples of the columns it selects. The engine's
`before_cursor_execute` listeners still see it (statement counts in tests and benches).

Only for plain statements: no expanding (`IN :list`) parameters, no types to convert (the
values are what the driver takes as they are: numbers, text, booleans, None).
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from sqlalchemy import Connection, text


class Hot:
    """One text statement run on the DBAPI cursor (see the module)."""

    __slots__ = ("_rendered", "_row", "sql")

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self._rendered: dict[str, str] = {}
        self._row: Any = None  # the named tuple of its columns, made at the first rows

    def rows(self, conn: Connection, params: dict[str, Any]) -> list[Any]:
        """Its rows as named tuples (attribute access like SQLAlchemy's rows)."""
        cur = self._run(conn, params)
        try:
            found = cur.fetchall()
            if not found:
                return []
            make = self._row_type(cur.description)
            return [make._make(r) for r in found]
        finally:
            cur.close()

    def first(self, conn: Connection, params: dict[str, Any]) -> Any | None:
        """Its first row, or None."""
        found = self.rows(conn, params)
        return found[0] if found else None

    def run(self, conn: Connection, params: dict[str, Any]) -> int:
        """Run it for its effect; the rows it changed."""
        cur = self._run(conn, params)
        try:
            count: int = cur.rowcount
            return count
        finally:
            cur.close()

    def _run(self, conn: Connection, params: dict[str, Any]) -> Any:
        sql = self._rendered.get(conn.dialect.name)
        if sql is None:
            sql = self._render(conn)
        dbapi: Any = conn.connection.dbapi_connection
        cur = dbapi.cursor()
        dispatch: Any = conn.dispatch
        if dispatch.before_cursor_execute:
            dispatch.before_cursor_execute(conn, cur, sql, params, None, False)
        cur.execute(sql, params)
        return cur

    def _render(self, conn: Connection) -> str:
        name = conn.dialect.name
        # sqlite3 takes :name parameters itself; psycopg's are rendered by the dialect
        sql = self.sql if name == "sqlite" else str(text(self.sql).compile(dialect=conn.dialect))
        self._rendered[name] = sql
        return sql

    def _row_type(self, description: Any) -> Any:
        if self._row is None:
            self._row = namedtuple("Row", [d[0] for d in description], rename=True)  # type: ignore[misc]
        return self._row
