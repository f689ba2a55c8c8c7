"""The one retry policy of foxden's HTTP callers: the client (`Client`) and the render node's
`WorkerClient` (see docs/worker-protocol.md).

A failure is retried when the server could not be reached, or answered with a status that means
"try again later" (`RETRY_STATUSES`: 408, 425, 429 and every 5xx). A request that may have
reached the server (a read error, a 5xx) is retried only when it is idempotent; one the server
says it did not process (408, 425, 429, 503) always. Waits grow exponentially with full jitter
(attempt n waits uniform(0, min(max_delay, base_delay * 2**n))), capped, and honour Retry-After.
The client gives up after a few attempts; the worker tries until it succeeds or stops.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

from foxden.errors import FoxdenError
from foxden.tls import untrusted_certificate

T = TypeVar("T")
log = logging.getLogger("foxden.retry")

#: statuses that mean "try again later" (each 5xx too: see `retry_status`).
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: of those, the ones that say the server did not process the request (safe to send again).
UNPROCESSED = frozenset({408, 425, 429, 503})


def retry_status(status: int) -> bool:
    """Whether an HTTP reply with `status` is worth another try."""
    return status in RETRY_STATUSES or status >= 500


class Retryable(Exception):
    """A failure the caller says is worth another try (a damaged download, say)."""


class RetryableStatus(Retryable):
    """An HTTP reply whose status says the call may be tried again."""

    def __init__(self, response: httpx.Response, detail: str = "") -> None:
        status = f"HTTP {response.status_code}"
        super().__init__(f"{status}: {detail}" if detail else status)
        self.response = response


class Abandoned(FoxdenError):
    """The call was given up: its caller is stopping, or no longer needs it."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, for at most `attempts` tries (None: no limit)."""

    attempts: int | None = 5
    base_delay: float = 0.2
    max_delay: float = 10.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        if retry_after is not None:
            return min(self.max_delay, max(0.0, retry_after))
        return self.rng.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** min(attempt, 30)))

    def retryable(self, exc: BaseException, idempotent: bool) -> bool:
        """Whether the failure `exc` of a call may be retried."""
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return not untrusted_certificate(exc)  # never arrived; an untrusted cert stays so
        if isinstance(exc, RetryableStatus):
            return idempotent or exc.response.status_code in UNPROCESSED
        if isinstance(exc, Retryable):
            return True
        return isinstance(exc, httpx.TransportError) and idempotent

    def call(
        self,
        fn: Callable[[], T],
        *,
        idempotent: bool = True,
        what: str = "",
        stop: threading.Event | None = None,
        give_up: Callable[[], bool] | None = None,
    ) -> T:
        """Run `fn` until it succeeds, fails for good, or the attempts are spent.

        The last failure is raised as it is. With `stop` (or `give_up`), waits end early and
        the call raises Abandoned once `stop` is set (or `give_up()` is true). With `what`,
        each retry is logged.
        """

        def abandoned() -> bool:
            return (stop is not None and stop.is_set()) or (give_up is not None and give_up())

        attempt = 0
        while True:
            if abandoned():
                raise Abandoned(f"{what or 'call'}: abandoned, the caller is stopping")
            try:
                return fn()
            except (httpx.TransportError, Retryable) as exc:
                spent = self.attempts is not None and attempt + 1 >= self.attempts
                if spent or not self.retryable(exc, idempotent):
                    raise
                wait = self.delay(attempt, _retry_after(exc))
                if what:
                    log.warning(
                        "%s failed (%s); retrying in %.1fs",
                        what,
                        exc,
                        wait,
                        extra={"event": "retry", "attempt": attempt + 1},
                    )
                attempt += 1
                self._pause(wait, stop, abandoned)
                if abandoned():
                    raise Abandoned(f"{what or 'call'}: abandoned") from exc

    def _pause(
        self, seconds: float, stop: threading.Event | None, abandoned: Callable[[], bool]
    ) -> None:
        if stop is None:
            self.sleep(seconds)
            return
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not abandoned():
            stop.wait(min(left, 0.2))


def _retry_after(exc: BaseException) -> float | None:
    if not isinstance(exc, RetryableStatus):
        return None
    value = exc.response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
