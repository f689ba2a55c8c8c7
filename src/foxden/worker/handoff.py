"""Where a worker's idle slots meet the leases its claimer gets for them.

A slot that has no work *wants* a lease; the claimer (one thread for all slots) asks the server
for as many leases as slots want, in one request, and hands each lease it gets to one of them.
A slot never gets a lease it did not want, so the worker never holds more leases than it has
idle slots. At the start every slot wants one: the first claim asks for all of them at once.
"""

from __future__ import annotations

import threading
from collections import deque

from foxden.wire.worker import LeaseOut

#: how often a waiting slot or claimer looks at the stop event (stop is this prompt)
STOP_CHECK = 0.2


class Handoff:
    """The leases wanted by idle slots and those got for them (thread-safe)."""

    def __init__(self, wanted: int = 0) -> None:
        self._cond = threading.Condition()
        self._wanted = wanted  # slots waiting for a lease the claimer has not got yet
        self._ready: deque[LeaseOut] = deque()  # got, not yet taken by a slot

    def want(self) -> None:
        """A slot ran out of work: it wants a lease (then calls `take`)."""
        with self._cond:
            self._wanted += 1
            self._cond.notify_all()

    def wanted(self, stop: threading.Event) -> int:
        """How many leases slots want, once at least one does; 0 when `stop` is set."""
        with self._cond:
            while self._wanted <= 0:
                if stop.is_set():
                    return 0
                self._cond.wait(STOP_CHECK)
            return 0 if stop.is_set() else self._wanted

    def give(self, leases: list[LeaseOut]) -> None:
        """Leases the claimer got (at most `wanted()`): each goes to one waiting slot."""
        with self._cond:
            if len(leases) > self._wanted:
                raise ValueError(f"{len(leases)} leases for {self._wanted} idle slot(s)")
            self._wanted -= len(leases)
            self._ready.extend(leases)
            self._cond.notify_all()

    def take(self, stop: threading.Event) -> LeaseOut | None:
        """A lease for this slot, once the claimer got one; None when `stop` is set."""
        with self._cond:
            while not self._ready:
                if stop.is_set():
                    return None
                self._cond.wait(STOP_CHECK)
            return self._ready.popleft()

    def leftovers(self) -> list[LeaseOut]:
        """Leases got but never taken (the worker is stopping: they must be released)."""
        with self._cond:
            left = list(self._ready)
            self._ready.clear()
            return left
