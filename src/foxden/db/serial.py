"""One writer thread for the worker protocol's hot writes, several committed together.

Ten server threads each running a worker's report queue for the same lock: on SQLite its one
writer, on PostgreSQL the row of the task they report on (the farm's lock order). Each wakes,
takes the GIL, blocks, wakes again and commits alone; on PostgreSQL, a backend holding the
task's row waits for the server's Python while the others wait for it. The `SerialWriter`
runs such calls on one thread instead, and the calls waiting when it is free run in one
write transaction (a group commit): each `Database.write()` a call makes is a savepoint of
that transaction, released when its block ends and rolled back when it raises, as its own
transaction would have been; `Database.read()` in a call reads the same connection, so it
sees what the calls before it wrote. Nothing is answered before the transaction commits, and
what `after_commit` queued runs after it as before.

When the transaction itself fails (its COMMIT, or the database ended it under a failed
statement), each of its calls is run again in a transaction of its own, so one call's failure
never becomes another's. The worker protocol's hot routes use it (`worker_routes.in_writer`);
everything else writes as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection

T = TypeVar("T")

#: calls run in one transaction at most (a batch waits for the one before it); with a savepoint
#: or two a call, PostgreSQL keeps its subtransactions in its cache of 64
MOST_PER_BATCH = 32

#: psycopg's `TransactionStatus.INTRANS`: in a transaction, idle, not aborted
_PSYCOPG_IN_TRANSACTION = 2

#: where a connection's `info` keeps what runs after its commit (`engine.after_commit`)
AFTER_COMMIT = "foxden_after_commit"

#: where a PostgreSQL connection's `info` keeps the statements of its transaction not sent yet:
#: they go ahead of its next statement (`engine.send_deferred`), in the same round trip when
#: that one is pipelined (`foxden.db.hot.Batch`); a transaction that sends nothing more never
#: sends them. Absent (SQLite): a statement runs when asked for.
DEFERRED = "foxden_deferred"


@dataclass
class Batch:
    """The open transaction of a group of calls, as the writer thread's `Database.write()` and
    `Database.read()` give it out."""

    conn: Connection
    depth: int = 0
    broken: bool = False

    @contextmanager
    def savepoint(self) -> Iterator[Connection]:
        """One `Database.write()` block: a savepoint, rolled back when the block raises. It is
        left open when the block ends (the batch's COMMIT ends them all): a RELEASE would cost
        PostgreSQL a round trip per call and change nothing. On PostgreSQL it is deferred
        (`DEFERRED`): sent with the block's first statement, dropped when the block ends
        without one (nothing can roll back to it then)."""
        name = f"foxden_write_{self.depth}"
        info = self.conn.info
        calls = info.setdefault(AFTER_COMMIT, [])
        mark = len(calls)
        deferred: list[str] | None = info.get(DEFERRED)
        sql = "SAVEPOINT " + name  # a string of its own: found again by identity
        at = -1
        if deferred is None:
            self._run(sql)
        else:
            at = len(deferred)
            deferred.append(sql)
        self.depth += 1
        try:
            yield self.conn
        except BaseException:
            del calls[mark:]  # what it queued for after the commit goes with it
            if not _drop_unsent(deferred, at, sql):  # sent: the block's statements undone
                try:
                    self._run(f"ROLLBACK TO SAVEPOINT {name}")
                except Exception:
                    self.broken = True  # the transaction ended under it: the batch runs again
            raise
        else:
            _drop_unsent(deferred, at, sql)
        finally:
            self.depth -= 1

    def _run(self, sql: str) -> None:
        cur = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cur.execute(sql)
        finally:
            cur.close()

    def still_open(self) -> bool:
        """Whether the transaction is still open and usable (a failed statement may end it on
        SQLite, and leaves it aborted on PostgreSQL unless its savepoint was rolled back)."""
        if self.broken:
            return False
        dbapi: Any = self.conn.connection.dbapi_connection
        if isinstance(dbapi, sqlite3.Connection):
            return dbapi.in_transaction
        return int(dbapi.info.transaction_status) == _PSYCOPG_IN_TRANSACTION


def _drop_unsent(deferred: list[str] | None, at: int, sql: str) -> bool:
    """Drop the deferred savepoint `sql` (at `at` of `deferred`) if it was never sent, with what
    its block deferred after it; whether it was unsent (the block sent no statement)."""
    if deferred is not None and len(deferred) > at and deferred[at] is sql:
        del deferred[at:]
        return True
    return False


@dataclass
class _Call:
    """A call and who waits for it: a thread (`future`) or a coroutine (`waiter`, settled on
    its event loop)."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: Future[Any] | None = None
    waiter: asyncio.Future[Any] | None = None

    def start(self) -> bool:
        """Whether the call is still wanted (its waiter not cancelled meanwhile)."""
        if self.future is not None:
            return self.future.set_running_or_notify_cancel()
        return self.waiter is not None and not self.waiter.cancelled()


def _settle(outcomes: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    """On the waiters' event loop: each waiter gets its call's result or exception."""
    for waiter, ok, value in outcomes:
        if waiter.cancelled():
            continue
        if ok:
            waiter.set_result(value)
        else:
            waiter.set_exception(value)


class _Broken(Exception):
    """The batch's transaction ended under it; its calls run again one by one."""


class SerialWriter:
    """The writer thread (see the module). `transaction` opens a write transaction (the
    database's own, behind its lock); `enter` tells the database which batch the thread's
    `write()` and `read()` give out (None: none)."""

    def __init__(
        self,
        transaction: Callable[[], Any],
        enter: Callable[[Batch | None], None],
        name: str = "foxden-writer",
    ) -> None:
        self._transaction = transaction
        self._enter = enter
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._name = name
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._started = False
        self._start_lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run `fn(*args)` on the writer thread; its result (or exception) once committed."""
        future: Future[Any] = Future()
        self._put(_Call(fn, args, future=future))
        return future

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """`submit` for a coroutine: the waiters of a batch are woken together, with one
        wake-up of their event loop."""
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._put(_Call(fn, args, waiter=waiter))
        return await waiter

    def _put(self, call: _Call) -> None:
        with self._start_lock:  # never behind the end mark of a `stop` in progress
            if not self._started:
                self._thread.start()
                self._started = True
            self._queue.put(call)

    def stop(self) -> None:
        """Let the thread finish what is queued and end; a later call starts a new one (as a
        disposed engine opens new connections)."""
        with self._start_lock:
            if not self._started:
                return
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
            self._started = False

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            calls = [first]
            stopping = False
            while len(calls) < MOST_PER_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                calls.append(more)
            live = [c for c in calls if c.start()]
            if live:
                self._run(live)
            if stopping:
                return

    def _run(self, calls: list[_Call]) -> None:
        try:
            outcomes = self._together(calls)
        except BaseException as exc:  # the transaction failed: each call alone
            alone = len(calls) == 1
            outcomes = [(False, exc)] if alone else [self._alone(call) for call in calls]
        waiting: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for call, (ok, value) in zip(calls, outcomes, strict=True):
            if call.waiter is not None:
                waiting.setdefault(call.waiter.get_loop(), []).append((call.waiter, ok, value))
            elif call.future is not None and ok:
                call.future.set_result(value)
            elif call.future is not None:
                call.future.set_exception(value)
        for loop, settled in waiting.items():
            with contextlib.suppress(RuntimeError):  # a loop closed meanwhile: nobody waits
                loop.call_soon_threadsafe(_settle, settled)

    def _alone(self, call: _Call) -> tuple[bool, Any]:
        try:
            return self._together([call])[0]
        except BaseException as exc:
            return (False, exc)

    def _together(self, calls: list[_Call]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        with self._transaction() as conn:
            batch = Batch(conn)
            self._enter(batch)
            try:
                for call in calls:
                    try:
                        outcomes.append((True, call.fn(*call.args)))
                    except BaseException as exc:
                        outcomes.append((False, exc))
                    if len(calls) > 1 and not batch.still_open():
                        raise _Broken  # alone, a call's outcome is its own
            finally:
                self._enter(None)
        return outcomes
