"""The one retry policy of the client: which failures are retried, and how long to wait.

Every HTTP call of `Client` (JSON calls, upload chunks, download ranges) goes through
`RetryPolicy.call`. A failure is retried when the server could not be reached, or answered
429/502/503/504; a request that may have reached the server (read error, 5xx) is retried only when
it is idempotent. Waits grow exponentially with full jitter, capped, and honour Retry-After.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

T = TypeVar("T")

#: statuses that mean "try again later".
RETRY_STATUSES = frozenset({429, 502, 503, 504})


class RetryableStatus(Exception):
    """An HTTP reply whose status says the call may be tried again."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter: attempt n waits up to min(cap, base * 2**n)."""

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 10.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        if retry_after is not None:
            return min(self.max_delay, max(0.0, retry_after))
        return self.rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))

    def retryable(self, exc: BaseException, idempotent: bool) -> bool:
        """Whether the failure `exc` of a call may be retried."""
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return True  # the request never reached the server
        if isinstance(exc, RetryableStatus):
            return idempotent or exc.response.status_code in (429, 503)
        return isinstance(exc, httpx.TransportError) and idempotent

    def call(self, fn: Callable[[], T], *, idempotent: bool = True) -> T:
        """Run `fn` until it succeeds, fails for good, or the attempts are spent."""
        for attempt in range(self.attempts):
            try:
                return fn()
            except (httpx.TransportError, RetryableStatus) as exc:
                if attempt + 1 >= self.attempts or not self.retryable(exc, idempotent):
                    raise
                after = None
                if isinstance(exc, RetryableStatus):
                    after = _retry_after(exc.response)
                self.sleep(self.delay(attempt, after))
        raise AssertionError("unreachable")  # pragma: no cover


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
