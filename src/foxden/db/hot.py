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

A `Batch` sends several of them together: on PostgreSQL in psycopg's pipeline mode, one round
trip for statements whose parameters do not depend on each other's results (a report's
reads and locks; its writes and the claim's candidate query), each still run in order.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, text


class Hot:
    """One text statement run on the DBAPI cursor (see the module)."""

    __slots__ = ("_rendered", "_returns", "_row", "sql")

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self._rendered: dict[str, str] = {}
        self._row: Any = None  # the named tuple of its columns, made at the first rows
        self._returns: bool | None = None  # whether it gives rows, seen at its first run

    def rows(self, conn: Connection, params: dict[str, Any]) -> list[Any]:
        """Its rows as named tuples (attribute access like SQLAlchemy's rows)."""
        cur = self._run(conn, params)
        try:
            return self._fetch(cur)
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

    def many(self, conn: Connection, params: Sequence[dict[str, Any]]) -> int:
        """Run it once per parameter set (the driver's executemany); the rows it changed."""
        if len(params) == 1:
            return self.run(conn, params[0])
        cur = self._run_many(conn, params)
        try:
            count: int = cur.rowcount
            return count
        finally:
            cur.close()

    def _run(self, conn: Connection, params: dict[str, Any]) -> Any:
        sql, cur = self._cursor(conn, params, False)
        cur.execute(sql, params)
        return cur

    def _run_many(self, conn: Connection, params: Sequence[dict[str, Any]]) -> Any:
        sql, cur = self._cursor(conn, params, True)
        cur.executemany(sql, params)
        return cur

    def _cursor(self, conn: Connection, params: Any, many: bool) -> tuple[str, Any]:
        sql = self._rendered.get(conn.dialect.name)
        if sql is None:
            sql = self._render(conn)
        dbapi: Any = conn.connection.dbapi_connection
        cur = dbapi.cursor()
        dispatch: Any = conn.dispatch
        if dispatch.before_cursor_execute:
            dispatch.before_cursor_execute(conn, cur, sql, params, None, many)
        return sql, cur

    def _fetch(self, cur: Any) -> list[Any]:
        found = cur.fetchall()
        if not found:
            return []
        make = self._row
        if make is None:  # psycopg builds its description anew at each look: look once
            make = self._row = namedtuple("Row", [d[0] for d in cur.description], rename=True)
        return [make._make(r) for r in found]

    def _gives_rows(self, cur: Any) -> bool:
        returns = self._returns
        if returns is None:
            returns = self._returns = cur.description is not None
        return returns

    def _render(self, conn: Connection) -> str:
        name = conn.dialect.name
        # sqlite3 takes :name parameters itself; psycopg's are rendered by the dialect
        sql = self.sql if name == "sqlite" else str(text(self.sql).compile(dialect=conn.dialect))
        self._rendered[name] = sql
        return sql


class Pending:
    """What a statement sent in a `Batch` gave: read once the batch is over (at once when it
    is not pipelined)."""

    __slots__ = ("_count", "_cur", "_hot", "_rows")

    def __init__(self, hot: Hot, cur: Any) -> None:
        self._hot = hot
        self._cur: Any = cur
        self._rows: list[Any] | None = None
        self._count = -1

    def _collect(self) -> None:
        cur = self._cur
        if cur is None:
            return
        self._cur = None
        try:
            self._rows = self._hot._fetch(cur) if self._hot._gives_rows(cur) else []
            self._count = cur.rowcount
        finally:
            cur.close()

    def rows(self) -> list[Any]:
        """Its rows as named tuples (`Hot.rows`)."""
        self._collect()
        return self._rows or []

    def first(self) -> Any | None:
        """Its first row, or None."""
        found = self.rows()
        return found[0] if found else None

    def count(self) -> int:
        """The rows it changed (`Hot.run`)."""
        self._collect()
        return self._count


class Batch:
    """`Hot` statements sent together: on PostgreSQL in psycopg's pipeline mode, so the whole
    batch is one round trip to the server, each statement still run in order in the caller's
    transaction; on SQLite (or `pipelined=False`) each runs at once. Their results (`Pending`)
    are read once the batch is over, and what needs them (`later`) runs then.

    Only `Hot` statements may run while a batch is pipelined: SQLAlchemy's own execution reads
    each result as it sends the statement. Code that needs one calls `sync` first, which ends
    the pipeline (the rest of the batch runs at once).
    """

    __slots__ = ("_conn", "_laters", "_pending", "_pipe", "late_writes")

    def __init__(self, conn: Connection, *, pipelined: bool) -> None:
        self._conn = conn
        self._pending: list[Pending] = []
        self._laters: list[Callable[[], bool]] = []
        self._pipe: Any = None
        #: a `later` call wrote something after statements queued behind it had run (their
        #: results may not have seen it)
        self.late_writes = False
        if pipelined and conn.dialect.name == "postgresql":
            dbapi: Any = conn.connection.dbapi_connection
            self._pipe = dbapi.pipeline()
            self._pipe.__enter__()

    @property
    def pipelined(self) -> bool:
        """Whether statements are still being queued (not run at once)."""
        return self._pipe is not None

    def send(self, hot: Hot, params: dict[str, Any]) -> Pending:
        """Queue `hot` with `params` (run at once when not pipelined)."""
        out = Pending(hot, hot._run(self._conn, params))
        return self._keep(out)

    def send_many(self, hot: Hot, params: Sequence[dict[str, Any]]) -> Pending:
        """Queue `hot` once per parameter set (the driver's executemany)."""
        if len(params) == 1:
            return self.send(hot, params[0])
        out = Pending(hot, hot._run_many(self._conn, params))
        return self._keep(out)

    def later(self, call: Callable[[], bool]) -> None:
        """Run `call` once the statements sent so far gave their results (at once when not
        pipelined); it returns whether it wrote anything more."""
        if self._pipe is None:
            call()
        else:
            self._laters.append(call)

    def sync(self) -> None:
        """End the pipeline: results in, `later` calls run; what follows runs at once."""
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            pipe.__exit__(None, None, None)
        for pending in self._pending:
            pending._collect()
        self._pending.clear()
        laters, self._laters = self._laters, []
        for call in laters:
            self.late_writes = call() or self.late_writes

    def _keep(self, pending: Pending) -> Pending:
        if self._pipe is None:
            pending._collect()
        else:
            self._pending.append(pending)
        return pending

    def _abandon(self, exc: BaseException) -> None:
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            pipe.__exit__(type(exc), exc, exc.__traceback__)


@contextmanager
def batch(conn: Connection, *, pipelined: bool = True) -> Iterator[Batch]:
    """A `Batch` on `conn`, synced when the block ends."""
    b = Batch(conn, pipelined=pipelined)
    try:
        yield b
    except BaseException as exc:
        b._abandon(exc)
        raise
    b.sync()
