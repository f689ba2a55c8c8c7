"""Failed logins, counted per client address and per account name in a sliding window.

After `limit` failures within `window` seconds from one address (or naming one account), every
login attempt from that address (or for that account) is refused with 429 and `Retry-After` until
the oldest of those failures leaves the window, correct ones included: a guesser learns nothing
while blocked. Successful logins are not counted, and a request is only slowed by one dictionary
lookup while nobody is failing.

The counts live in this server process: with several server processes behind one address each
keeps its own, so the farm-wide limit is `limit` times the number of processes.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from starlette.requests import Request

from foxden.errors import TooManyRequests, quote

_MAX_KEYS = 100_000  # addresses and names tracked at once (the stalest are dropped first)


def client_address(request: Request) -> str:
    """The address a request came from (the proxy's, unless uvicorn is told to trust it)."""
    return request.client.host if request.client else "unknown"


class LoginLimiter:
    """Sliding-window counts of failed logins per address and per account name (thread-safe)."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}

    @staticmethod
    def _keys(address: str | None, account: str | None) -> list[tuple[str, str]]:
        keys = []
        if address:
            keys.append((f"a:{address}", "from your address"))
        if account and len(account) <= 64:
            keys.append((f"n:{account.lower()}", f"for account {quote(account)}"))
        return keys

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def check(self, address: str | None, account: str | None = None) -> None:
        """Raise `TooManyRequests` when the address or the account is blocked now."""
        keys = self._keys(address, account)
        if not any(key in self._failures for key, _ in keys):
            return  # the common case: nobody failed lately, no lock taken
        now = self._clock()
        with self._lock:
            for key, whom in keys:
                times = self._recent(key, now)
                if times is not None and len(times) >= self.limit:
                    wait = max(1, math.ceil(times[0] + self.window - now))
                    raise TooManyRequests(
                        f"too many failed logins {whom}: try again in {wait} seconds",
                        retry_after=wait,
                    )

    def failed(self, address: str | None, account: str | None = None) -> None:
        """Count one failed login from `address` (naming `account`, if given)."""
        now = self._clock()
        with self._lock:
            for key, _ in self._keys(address, account):
                times = self._recent(key, now)
                if times is None:
                    times = self._failures[key] = deque(maxlen=self.limit)
                times.append(now)
            if len(self._failures) > _MAX_KEYS:
                self._sweep(now)

    def _sweep(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        while len(self._failures) > _MAX_KEYS:
            del self._failures[next(iter(self._failures))]
