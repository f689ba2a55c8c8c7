"""Engine set-up for SQLite (WAL, immediate write transactions) and PostgreSQL."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from foxden.db.serial import AFTER_COMMIT, DEFERRED, Batch, SerialWriter

#: threads that may run database work at once: anyio's default thread pool, which serves the
#: server's synchronous routes; the pool keeps that many connections open so none is opened
#: and closed per request
SERVER_THREADS = 40


class Database:
    """The farm database: `read()` and `write()` give a connection inside one transaction.

    On SQLite, writes take `BEGIN IMMEDIATE` (the write lock up front, so a claim is one atomic
    step) behind an in-process lock, which saves threads from busy-waiting on each other. On
    PostgreSQL both are plain transactions; claims use `FOR UPDATE SKIP LOCKED`.
    """

    def __init__(self, url: str, *, pool_size: int = SERVER_THREADS) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self._write_lock = threading.Lock()
        self._batch = threading.local()  # the writer thread's open batch (db/serial.py)
        #: the worker protocol's hot writes, several in one transaction (db/serial.py)
        self.serial: SerialWriter
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                _private_file(Path(parsed.database))
            self.engine: Engine = create_engine(
                url, pool_size=pool_size, max_overflow=16, connect_args={"timeout": 30}
            )
            _configure_sqlite(self.engine)
            self.serial = SerialWriter(self._sqlite_write, self._enter_batch)
        else:
            if parsed.drivername == "postgresql":
                parsed = parsed.set(drivername="postgresql+psycopg")
            self.engine = create_engine(
                parsed, pool_size=pool_size, max_overflow=16, pool_use_lifo=True
            )
            _ping_when_idle(self.engine)
            event.listen(self.engine, "before_cursor_execute", send_deferred)
            self.serial = SerialWriter(self._postgres_write, self._enter_batch)

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction (on the writer thread: its batch's)."""
        batch: Batch | None = getattr(self._batch, "open", None)
        if batch is not None:
            yield batch.conn
            return
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self, *, durable: bool = True) -> Iterator[Connection]:
        """A connection in a write transaction (immediate on SQLite).

        `durable=False` lets PostgreSQL acknowledge the commit before its WAL reaches disk
        (`synchronous_commit = off`): a crash of the database server may lose the last few
        hundred milliseconds of such transactions, never corrupt anything. The worker protocol
        uses it; a lost claim or report only means a frame is rendered again.
        """
        batch: Batch | None = getattr(self._batch, "open", None)
        if batch is not None:  # on the writer thread: a savepoint of its batch
            with batch.savepoint() as conn:
                if durable and not self.is_sqlite:  # the batch's commit waits for the disk
                    conn.exec_driver_sql("SET LOCAL synchronous_commit TO ON")
                yield conn
        elif self.is_sqlite:
            with self._sqlite_write() as conn:
                yield conn
        else:
            with self._postgres_write(durable) as conn:
                yield conn

    @contextmanager
    def _sqlite_write(self) -> Iterator[Connection]:
        with self._write_lock, self.engine.connect() as conn:
            conn = conn.execution_options(foxden_immediate=True)
            with _then_after_commit(conn), conn.begin():
                yield conn

    @contextmanager
    def _postgres_write(self, durable: bool = False) -> Iterator[Connection]:
        with self.engine.connect() as conn, _then_after_commit(conn):
            # sent with the transaction's first statement (`send_deferred`)
            conn.info[DEFERRED] = [] if durable else ["SET LOCAL synchronous_commit TO OFF"]
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop(DEFERRED, None)

    def _enter_batch(self, batch: Batch | None) -> None:
        self._batch.open = batch

    def dispose(self) -> None:
        """Stop the writer thread; close every pooled connection."""
        self.serial.stop()
        self.engine.dispose()


log = logging.getLogger("foxden.db")


def send_deferred(conn: Connection, cursor: Any, *_args: Any) -> None:
    """Before a statement on PostgreSQL (`before_cursor_execute`): the statements its write
    transaction deferred (`foxden.db.serial.DEFERRED`: its `synchronous_commit`, the writer's
    savepoints) go first, queued ahead of it when it is pipelined, else run now."""
    deferred: list[str] | None = conn.info.get(DEFERRED)
    if deferred:
        dbapi = cursor.connection
        for sql in deferred:
            dbapi.execute(sql)
        deferred.clear()


def after_commit(conn: Connection, call: Callable[[], None]) -> None:
    """Run `call` once the write transaction of `conn` (from `Database.write`) has committed;
    never if it rolls back. For what must not be seen before the commit (waking idle claims)."""
    conn.info.setdefault(AFTER_COMMIT, []).append(call)


def queued_after_commit(conn: Connection) -> list[Callable[[], None]]:
    """What `after_commit` queued so far in this transaction of `conn`."""
    calls: list[Callable[[], None]] = conn.info.get(AFTER_COMMIT, [])
    return calls


@contextmanager
def _then_after_commit(conn: Connection) -> Iterator[None]:
    """Around `conn.begin()`: the calls `after_commit` queued run when it committed. One that
    raises is logged: what committed is not undone, and its caller's reply stands."""
    conn.info.pop(AFTER_COMMIT, None)  # the pooled connection's info outlives a transaction
    try:
        yield
    except BaseException:
        conn.info.pop(AFTER_COMMIT, None)
        raise
    for call in conn.info.pop(AFTER_COMMIT, ()):
        try:
            call()
        except Exception:
            log.exception("a call queued for after a commit failed")


#: a pooled PostgreSQL connection idle longer than this is checked before it is used again
PING_AFTER_IDLE_S = 2.0
_IDLE_SINCE = "foxden_idle_since"


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use (one round trip) only when it sat idle longer than
    `PING_AFTER_IDLE_S`: one that failed meanwhile (a restarted or terminated server) is
    replaced, as `pool_pre_ping` would, without a round trip at every checkout of a busy
    farm's connections. One that fails within that window fails its statement; the pool is
    then renewed (SQLAlchemy's disconnect handling) and the next use gets a new connection."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            dialect.do_ping(dbapi)
        except dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"a pooled connection did not answer: {exc}") from exc


def _private_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only (0600); its -wal and -shm files
    inherit that mode from it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("foxden_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def new_id(result: CursorResult[Any]) -> int:
    """The primary key of the row an INSERT made."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the INSERT made no row")
    return int(key[0])
