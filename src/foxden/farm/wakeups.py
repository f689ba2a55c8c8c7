"""Idle claims that wait for work (long poll), and the calls that wake them.

A worker may ask the server to hold an idle claim open (`ClaimIn.wait`). The claim route reads
the farm's `generation` before its query; when the query finds nothing it awaits
`WorkSignal.wait(since=generation)`, which returns at once if work appeared in between (so no
wake-up is lost), else when woken or at the timeout. Whatever makes work claimable calls
`on_commit(conn, n)` inside its write transaction (the waiters are woken once it commits, so
they see the work) or `work_appeared(db, n)` after it: frames inserted by a submit or moved back
to waiting (`lifecycle.transition`), a worker approved, a limit or dependency freed.

Waking everyone for one frame would make a thousand idle workers query at once, so a call wakes
at most `n` waiters, oldest first (None: all of them). A woken claim that gets work passes the
turn on (`work_appeared(db, 1)`), so a large submit drains through the waiters one claim at a
time until one finds nothing. A waiter that cannot run the new work (software, tags) ends the
chain early; the others then find it at their next claim, at most `wait` seconds later.

The signal is per process (one server): a farm of several server processes still works, its
workers just wait out their `wait` as if it were a poll interval.

The generation also spares polling workers (claims without `wait`) the query: `IdleMemo`
remembers, per worker, the generation at which its last claim found nothing; a claim of the
same worker (same software and tags) while no work appeared since, within `IDLE_MEMO_SECONDS`,
is answered "no work" at once. The memo can only say "nothing", never give work; what it costs
is that work made where this process does not see it (another server process) waits that
long, and a worker's `last_seen` then lags its polls by up to that too.

Work appearing moves the generation for every worker, so after each submit a thousand polling
workers would all query again, though one took the work and nothing is left for the others.
The memo therefore also keeps, per kind of worker (software and tags), the generation at which
a claim found nothing for any worker of that kind (`scheduler.Looked.for_anyone`: the worker
itself active and blocklisted on no task, so that nothing of its own narrowed the query). A
worker whose own empty claim is recent (within `IDLE_MEMO_SECONDS`, so it still queries, and
has its `last_seen` written, that often) is answered from it too: after a submit, a few claims
of each kind query, not every worker.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import deque
from typing import Any

from sqlalchemy import Connection, Engine

from foxden.db.engine import Database, after_commit, queued_after_commit


class WorkSignal:
    """The waiting claims of one server process (thread-safe; waiters are asyncio tasks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()
        self._generation = 0
        self.idle = IdleMemo()

    @property
    def generation(self) -> int:
        """Counts the calls of `work_appeared`: read it before a claim's query."""
        return self._generation

    @property
    def waiting(self) -> int:
        """How many claims are held open now."""
        with self._lock:
            return sum(1 for _, fut in self._waiters if not fut.done())

    def work_appeared(self, n: int | None = None) -> None:
        """Wake up to `n` waiting claims, oldest first (None: all); callable from any thread."""
        with self._lock:
            self._generation += 1
            woken = 0
            while self._waiters and (n is None or woken < n):
                loop, fut = self._waiters.popleft()
                if fut.done():  # timed out or cancelled: not a waiter any more
                    continue
                loop.call_soon_threadsafe(_wake, fut)
                woken += 1

    async def wait(self, timeout: float, *, since: int) -> bool:
        """Wait until woken or `timeout` seconds pass; True when woken (or work appeared
        since the generation `since` was read), False at the timeout."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._generation != since:
                return True
            self._waiters.append((loop, fut))
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            return False
        finally:
            fut.cancel()  # timed out or cancelled: a later wake-up skips it
        return True


#: how long a claim that found nothing stands for the next claims of its worker while no work
#: appears (the scheduler's SEEN_EVERY: a worker's row is still written about that often)
IDLE_MEMO_SECONDS = 5.0
#: workers remembered at most (a farm has fewer; old entries are dropped past it)
IDLE_MEMO_SIZE = 100_000


class IdleMemo:
    """The claims that found nothing, per worker: `(worker, generation, when)` (see the
    module's docstring). Used from the server's event loop only."""

    def __init__(self, seconds: float = IDLE_MEMO_SECONDS, size: int = IDLE_MEMO_SIZE) -> None:
        self.seconds = seconds
        self.size = size
        self._found_nothing: dict[int, tuple[Any, int, float]] = {}
        self._for_anyone: dict[Any, tuple[int, float]] = {}  # kind -> generation, when

    def still_nothing(self, worker_id: int, worker: Any, generation: int, now: float) -> bool:
        """Whether a claim of `worker` (its `WorkerInfo`: id, software, tags) may be answered
        "no work" without a query: its last one found nothing less than `seconds` ago, at this
        `generation`, or since then one found nothing at it for any worker of its kind."""
        last = self._found_nothing.get(worker_id)
        if last is None or last[0] != worker or not 0 <= now - last[2] < self.seconds:
            return False
        if last[1] == generation:
            return True
        kind = self._for_anyone.get(_kind(worker))
        return kind is not None and kind[0] == generation and 0 <= now - kind[1] < self.seconds

    def found_nothing(
        self, worker_id: int, worker: Any, generation: int, now: float, *, for_anyone: bool = False
    ) -> None:
        """Note that a claim whose query started at `generation` found nothing; `for_anyone`:
        nothing for any worker of its kind either (`scheduler.Looked.for_anyone`)."""
        if len(self._found_nothing) >= self.size:
            old = [k for k, v in self._found_nothing.items() if now - v[2] >= self.seconds]
            for key in old or list(self._found_nothing)[: self.size // 2]:
                del self._found_nothing[key]
        self._found_nothing[worker_id] = (worker, generation, now)
        if for_anyone:
            if len(self._for_anyone) >= self.size:
                self._for_anyone.clear()
            self._for_anyone[_kind(worker)] = (generation, now)

    def forget(self, worker_id: int) -> None:
        """Forget the worker's empty claim (it got work)."""
        self._found_nothing.pop(worker_id, None)


def _kind(worker: Any) -> Any:
    """What the candidate query asks of a worker besides its own row: its software and tags."""
    return (getattr(worker, "software_keys", None), getattr(worker, "tags", None))


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


_SIGNALS: weakref.WeakKeyDictionary[Engine, WorkSignal] = weakref.WeakKeyDictionary()
_SIGNALS_LOCK = threading.Lock()


def signal_of(db: Database | Engine) -> WorkSignal:
    """The work signal of this farm database in this process."""
    engine = db.engine if isinstance(db, Database) else db
    with _SIGNALS_LOCK:
        signal = _SIGNALS.get(engine)
        if signal is None:
            signal = _SIGNALS[engine] = WorkSignal()
        return signal


def work_appeared(db: Database, n: int | None = None) -> None:
    """Tell claims waiting on `db`'s farm that work may be there (call it after the commit)."""
    signal_of(db).work_appeared(n)


class _Wake:
    """The one wake-up a write transaction queues, however many `on_commit` calls it makes."""

    def __init__(self, signal: WorkSignal) -> None:
        self.signal = signal
        self.counts: list[int | None] = []

    def __call__(self) -> None:
        counts = self.counts
        self.signal.work_appeared(None if None in counts else sum(c or 0 for c in counts))


def on_commit(conn: Connection, n: int | None = None) -> None:
    """Wake up to `n` waiting claims (None: all) once this write transaction commits; several
    calls in one transaction add up to one wake-up."""
    wake = next((c for c in queued_after_commit(conn) if isinstance(c, _Wake)), None)
    if wake is None:
        wake = _Wake(signal_of(conn.engine))
        after_commit(conn, wake)
    wake.counts.append(n)
