"""Worker reports sent again: the reply the first one got, not a second application.

A worker that loses a report's reply (a timeout, a reset connection) sends the same report
again. Once the first was applied its lease is done, so the second would be refused ("lease
lost"), and the leases the first one claimed with it (`ReportIn.claim`) would sit unknown to
the worker until they expire. A report may therefore carry a `key` of the worker's making,
the same in every retry: the server runs a report once per (worker, lease, key) and answers a
retry with the first one's reply, leases included, or, while the first still runs, with its
reply once it comes. A first one that failed (422, lease lost) is forgotten, so a retry runs
again. Replies are kept in this process only (a restarted server has none: the retry is then
refused as before and the claimed leases expire), the newest `KEPT` of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

R = TypeVar("R")

#: replies kept for retries (a report's reply is a few hundred bytes)
KEPT = 10_000

Key = tuple[int, int, str]  # worker id, lease id, the report's key


class Replays(Generic[R]):
    """The replies of keyed reports (use from the server's event loop only)."""

    def __init__(self, kept: int = KEPT) -> None:
        self.kept = kept
        self._replies: dict[Key, asyncio.Future[R]] = {}

    def __len__(self) -> int:
        return len(self._replies)

    async def once(self, key: Key, run: Callable[[], Awaitable[R]]) -> R:
        """`run()`'s reply for the first call with `key`; the same reply for every later one
        (awaited while the first still runs)."""
        while (first := self._replies.get(key)) is not None:
            try:
                return await asyncio.shield(first)
            except asyncio.CancelledError:
                if not first.cancelled():
                    raise  # this call was cancelled, not the first one
                # the first went away unanswered (and was forgotten): run it here
        mine: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._keep(key, mine)
        try:
            reply = await run()
        except BaseException as exc:
            if self._replies.get(key) is mine:
                del self._replies[key]
            if isinstance(exc, Exception):
                mine.set_exception(exc)
                mine.exception()  # retrieved: a retry waiting on it gets it, nobody else must
            else:
                mine.cancel()
            raise
        mine.set_result(reply)
        return reply

    def _keep(self, key: Key, future: asyncio.Future[R]) -> None:
        while len(self._replies) >= self.kept:
            del self._replies[next(iter(self._replies))]  # the oldest
        self._replies[key] = future
