"""The worker side of the worker protocol: one HTTP client (the payloads: `foxden.wire.worker`).

Every call goes through foxden's one retry policy (`foxden.retry`, shared with the client):
connection errors, timeouts, 408, 425, 429 and 5xx replies are retried with exponential backoff
and full jitter until they succeed or the worker stops; any other error reply is read by the one
decoder (`foxden.replies`) and becomes a typed exception at once (see docs/worker-protocol.md).
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import httpx

from foxden.errors import FoxdenError, LeaseLost, NotFound, Unauthorized
from foxden.replies import error_from, message_of
from foxden.retry import Abandoned, Retryable, RetryableStatus, RetryPolicy, retry_status
from foxden.tls import Verify, ssl_verify, untrusted_certificate, untrusted_error
from foxden.wire.worker import (
    ClaimIn,
    ClaimsOut,
    FrameResult,
    HeartbeatOut,
    LeaseOut,
    RegisteredOut,
    ReleasedOut,
    ReportIn,
    ReportOut,
    WorkerRegister,
)

log = logging.getLogger("foxden.worker")
T = TypeVar("T")


# -- errors --------------------------------------------------------------------------------------


class WorkerError(FoxdenError):
    """The worker could not do what it was asked."""


class Stopping(WorkerError):
    """The worker is shutting down: the call was abandoned."""


class TokenRejected(WorkerError):
    """The server does not know this worker (any more): register again."""


class LeaseGone(WorkerError):
    """The lease is gone: drop its work."""


class InputMissing(WorkerError):
    """The server has no such input for this worker's work."""


class RequestRejected(WorkerError):
    """The server refused the request (a 4xx reply that retrying cannot fix)."""


# -- retry policy and error replies --------------------------------------------------------------

#: the worker's retry policy: the shared one (`foxden.retry`), tried until it succeeds or stops.
WORKER_RETRY = RetryPolicy(attempts=None, base_delay=0.5, max_delay=30.0)
#: a long-poll claim's read timeout is its `wait` plus this (the server answers at `wait` at the
#: latest, plus the time of its claim query)
LONG_POLL_MARGIN = 15.0
#: statuses of an older server that has no `POST /claims`: the worker claims one lease at a time
NO_ROUTE = frozenset({404, 405})


def _check(reply: httpx.Response, lease_call: bool = False) -> httpx.Response:
    """`reply` if it succeeded; else RetryableStatus (retried) or the typed worker error."""
    status = reply.status_code
    if status < 400:
        return reply
    if retry_status(status):
        raise RetryableStatus(reply, message_of(reply))
    error = error_from(reply)
    message = f"HTTP {status}: {error.message}"
    if isinstance(error, Unauthorized):
        raise TokenRejected(message)
    if isinstance(error, LeaseLost) or (lease_call and isinstance(error, NotFound)):
        raise LeaseGone(message)
    raise RequestRejected(message)


def _retried(
    policy: RetryPolicy,
    what: str,
    call: Callable[[], T],
    stop: threading.Event,
    give_up: Callable[[], bool] | None = None,
) -> T:
    """`call()` under `policy` until it does not fail transiently; Stopping when `stop` is set
    (or `give_up()` is true: the call is no longer needed), WorkerError when the attempts are
    spent."""
    try:
        return policy.call(call, what=what, stop=stop, give_up=give_up)
    except Abandoned as exc:
        raise Stopping(f"{what}: abandoned, the worker is stopping") from exc
    except (httpx.TransportError, Retryable) as exc:
        if reason := untrusted_certificate(exc):
            raise untrusted_error(_origin(exc), reason, what) from exc
        raise WorkerError(f"{what}: {type(exc).__name__}: {exc}") from exc


def _origin(exc: BaseException) -> str:
    """The scheme, host and port `exc`'s request went to ('' if unknown)."""
    try:
        url = exc.request.url  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):
        return ""
    return f"{url.scheme}://{url.netloc.decode()}"


# -- client --------------------------------------------------------------------------------------


class WorkerClient:
    """The worker endpoints of one farm server, each call retried by one `RetryPolicy`."""

    def __init__(
        self,
        server: str,
        stop: threading.Event,
        policy: RetryPolicy | None = None,
        timeout: float = 60.0,
        verify: Verify | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.stop = stop
        self.policy = policy or WORKER_RETRY
        self.token = ""
        self.timeout = timeout
        self.has_claims: bool | None = None  # `POST /claims` served (None: not asked yet)
        self._http = httpx.Client(base_url=self.server, timeout=timeout, verify=ssl_verify(verify))

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _send(
        self,
        what: str,
        method: str,
        url: str,
        *,
        lease_call: bool = False,
        policy: RetryPolicy | None = None,
        auth: str | None = None,
        give_up: Callable[[], bool] | None = None,
        passed: frozenset[int] = frozenset(),
        **kw: Any,
    ) -> httpx.Response:
        """The reply of one call, retried; a reply whose status is in `passed` is returned as
        it is, not turned into an error."""
        headers = {"Authorization": f"Bearer {auth if auth is not None else self.token}"}

        def call() -> httpx.Response:
            reply = self._http.request(method, url, headers=headers, **kw)
            if reply.status_code in passed:
                return reply
            return _check(reply, lease_call)

        return _retried(policy or self.policy, what, call, self.stop, give_up)

    def register(self, join_key: str, info: WorkerRegister) -> RegisteredOut:
        """Join the farm; keeps the worker token for later calls."""
        reply = self._send(
            "register",
            "POST",
            "/api/worker/register",
            auth=join_key,
            json=info.model_dump(mode="json"),
        )
        data: RegisteredOut = reply.json()
        self.token = data["token"]
        return data

    def claim(self, wait: float = 0.0) -> LeaseOut | None:
        """A lease on some frames, or None when there is no work (204). With `wait`, the
        server may hold the claim open up to that many seconds (long poll) and answer the
        moment work for this worker appears; an older server answers at once."""
        reply = self._send(
            "claim",
            "POST",
            "/api/worker/claim",
            json=_claim_body(1, wait),
            timeout=self._poll(wait),
        )
        if reply.status_code == 204:
            return None
        lease: LeaseOut = reply.json()
        return lease

    def claims(self, slots: int, wait: float = 0.0) -> list[LeaseOut]:
        """Up to `slots` leases in one request ([] when there is no work: 204), the claim held
        open up to `wait` seconds as in `claim`. An older server without `POST /claims` (404
        or 405) is asked with `POST /claim` instead, one lease a request, from then on."""
        if self.has_claims is not False:
            reply = self._send(
                "claims",
                "POST",
                "/api/worker/claims",
                json=_claim_body(slots, wait),
                timeout=self._poll(wait),
                passed=NO_ROUTE,
            )
            if reply.status_code not in NO_ROUTE:
                self.has_claims = True
                if reply.status_code == 204:
                    return []
                data: ClaimsOut = reply.json()
                return data["leases"][:slots]
            if self.has_claims is None:
                log.info("the server has no POST /claims: claiming one lease a request")
            self.has_claims = False
        leases: list[LeaseOut] = []
        while len(leases) < slots:
            # only the first may wait: once one lease came, the others are asked for at once
            lease = self.claim(0.0 if leases else wait)
            if lease is None:
                break
            leases.append(lease)
        return leases

    def _poll(self, wait: float) -> httpx.Timeout:
        """The timeouts of a claim held open up to `wait` seconds: reading waits for it."""
        if wait <= 0:
            return httpx.Timeout(self.timeout)
        return httpx.Timeout(self.timeout, read=max(self.timeout, wait + LONG_POLL_MARGIN))

    def heartbeat(
        self,
        lease_id: int,
        progress: dict[int, float],
        logs: dict[int, str],
        give_up: Callable[[], bool] | None = None,
    ) -> HeartbeatOut:
        """Extend the lease, carrying progress and new log text; the reply may say 'stop'.
        Retries end when `give_up()` is true (the lease's work is over)."""
        reply = self._send(
            f"heartbeat of lease {lease_id}",
            "POST",
            f"/api/worker/leases/{lease_id}/heartbeat",
            lease_call=True,
            give_up=give_up,
            json={"progress": progress, "logs": logs},
        )
        data: HeartbeatOut = reply.json()
        return data

    def report(
        self, lease_id: int, results: list[FrameResult], claim: ClaimIn | None = None
    ) -> ReportOut:
        """Report frames done (outputs uploaded first) or failed. With `claim`, the same
        request asks for the next work: the reply's `leases` (empty: none now; absent: an
        older server that does not hand work out with reports)."""
        # one key for this report and its retries: a retry of a report the server applied
        # (its reply lost) gets that reply again, leases included (server/replays.py)
        key = secrets.token_urlsafe(12)
        body = ReportIn(results=results, claim=claim, key=key).model_dump(
            mode="json", exclude_none=True
        )
        reply = self._send(
            f"report to lease {lease_id}",
            "POST",
            f"/api/worker/leases/{lease_id}/frames",
            lease_call=True,
            json=body,
        )
        data: ReportOut = reply.json()
        return data

    def release(self, lease_id: int, policy: RetryPolicy) -> int:
        """Give a lease's frames back to the queue (a lease the worker will not start); runs
        while the worker is stopping, so only `policy` bounds it. Returns the frames released
        (0 when the lease is gone already)."""
        unstoppable = threading.Event()
        headers = {"Authorization": f"Bearer {self.token}"}

        def call() -> int:
            url = f"/api/worker/leases/{lease_id}/release"
            reply = _check(self._http.post(url, headers=headers, timeout=5.0), lease_call=True)
            released: ReleasedOut = reply.json()
            return int(released["released"])

        try:
            return _retried(policy, f"release of lease {lease_id}", call, unstoppable)
        except LeaseGone:
            return 0

    def sign_off(self, policy: RetryPolicy) -> None:
        """Leave the farm; the server releases every lease of this worker."""
        unstoppable = threading.Event()  # sign-off runs while the worker is stopping
        headers = {"Authorization": f"Bearer {self.token}"}

        def call() -> None:
            _check(self._http.post("/api/worker/sign-off", headers=headers, timeout=5.0))

        _retried(policy, "sign-off", call, unstoppable)

    def upload(self, lease_id: int, digest: str, data: bytes | Path) -> None:
        """PUT an output (or thumbnail) blob of lease `lease_id`, bytes or a file streamed from
        disk (reopened on each attempt); the server verifies it against `digest` and lets the
        lease's reports name it."""
        headers = {"Authorization": f"Bearer {self.token}"}
        url = f"/api/worker/blobs/{digest}?lease={lease_id}"

        def call() -> None:
            if isinstance(data, Path):
                with data.open("rb") as fh:
                    _check(self._http.put(url, headers=headers, content=_chunks(fh)))
            else:
                _check(self._http.put(url, headers=headers, content=data))

        _retried(self.policy, f"upload of {digest[:12]}", call, self.stop)

    @contextmanager
    def download(self, digest: str) -> Iterator[httpx.Response]:
        """Stream an input blob (one attempt: `fetch_to` retries the whole fetch)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        with self._http.stream("GET", f"/api/worker/blobs/{digest}", headers=headers) as reply:
            if reply.status_code >= 400:
                reply.read()
            if reply.status_code == 404:
                raise InputMissing(f"input {digest} is not available: {error_from(reply).message}")
            _check(reply)
            yield reply

    def fetch_to(
        self, digest: str, dest: Path, receive: Callable[[httpx.Response, Path], None]
    ) -> None:
        """Download blob `digest` into `dest` with `receive`, retried by the policy."""

        def call() -> None:
            with self.download(digest) as reply:
                try:
                    receive(reply, dest)
                except CorruptDownload as exc:
                    raise Retryable(str(exc)) from exc

        _retried(self.policy, f"download of {digest[:12]}", call, self.stop)


def _claim_body(slots: int, wait: float) -> dict[str, Any]:
    """A claim's JSON, without what the server assumes anyway (`{}`: one lease, at once)."""
    return ClaimIn(slots=slots, wait=wait).model_dump(mode="json", exclude_defaults=True)


class CorruptDownload(WorkerError):
    """A downloaded blob did not match its hash or size."""


def _chunks(fh: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    while chunk := fh.read(size):
        yield chunk


def sleep_jittered(seconds: float, stop: threading.Event) -> bool:
    """Wait about `seconds` (plus or minus 20%); True if `stop` was set meanwhile."""
    return stop.wait(seconds * random.uniform(0.8, 1.2))
