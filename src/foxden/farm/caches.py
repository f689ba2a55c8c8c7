"""What the worker protocol's hot path keeps in memory: one of each per farm (`server.context.Farm`).

Both are bounded and thread-safe, and both are optional: a farm function given none reads the
database every time (the CLI, direct tests).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from foxden.wire.worker import InputFile, TaskInfo

K = TypeVar("K")
V = TypeVar("V")

#: what a worker is told of a task and its inputs (immutable once submitted; the claim fills in
#: the project's sandbox rights, which are not).
Payload = tuple[TaskInfo, list[InputFile]]


class _Bounded(Generic[K, V]):
    """A dict that forgets its oldest entry beyond `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[K, V] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self.lock:
            return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        with self.lock:
            self.put_locked(key, value)

    def put_locked(self, key: K, value: V) -> None:
        """`put`, the lock already held."""
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def drop_locked(self, keep: Callable[[K, V], bool]) -> None:
        """Drop the entries `keep` refuses, the lock already held."""
        for key in [k for k, v in self._items.items() if not keep(k, v)]:
            del self._items[key]

    def __len__(self) -> int:
        return len(self._items)


class PayloadCache:
    """Task payloads by (task id, submit time): SQLite may give a deleted task's id to the next
    task, which never has the same submit time, so a deleted task's entry is simply never hit."""

    def __init__(self, limit: int = 256) -> None:
        self._items: _Bounded[tuple[int, float], Payload] = _Bounded(limit)

    def get(self, task_id: int, submit_time: float) -> Payload | None:
        """The cached payload of the task, if any."""
        return self._items.get((task_id, submit_time))

    def put(self, task_id: int, submit_time: float, payload: Payload) -> None:
        """Remember a task's payload."""
        self._items.put((task_id, submit_time), payload)


class TokenCache(Generic[V]):
    """Worker tokens (by their digest) that were good a few seconds ago: workers call several
    times a second. Revoking a worker drops its entries at once (`forget_worker`)."""

    def __init__(self, ttl: float = 30.0, limit: int = 10_000) -> None:
        self.ttl = ttl
        self._items: _Bounded[str, tuple[float, int, V]] = _Bounded(limit)
        self._forgets = 0  # how many times a worker was forgotten

    def stamp(self) -> int:
        """Take before reading a token's worker: `put` ignores answers read before a forget."""
        return self._forgets

    def get(self, digest: str) -> V | None:
        """The worker a token digest stands for, if it was checked less than `ttl` ago."""
        item = self._items.get(digest)
        if item is None or item[0] <= time.monotonic():
            return None
        return item[2]

    def put(self, digest: str, worker_id: int, value: V, stamp: int) -> None:
        """Remember that `digest` is the token of worker `worker_id`, as read after `stamp`."""
        with self._items.lock:
            if stamp == self._forgets:  # no worker forgotten meanwhile: the answer still holds
                self._items.put_locked(digest, (time.monotonic() + self.ttl, worker_id, value))

    def forget_worker(self, worker_id: int) -> None:
        """Drop every entry of the worker (revoked, or its standing changed)."""
        with self._items.lock:
            self._forgets += 1
            self._items.drop_locked(lambda _digest, item: item[1] != worker_id)
