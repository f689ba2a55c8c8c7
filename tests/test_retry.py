"""The one retry policy (client and worker) and the one reading of error replies."""

from __future__ import annotations

import threading

import httpx
import pytest

from foxden.errors import Conflict, LeaseLost, ServerUnavailable
from foxden.replies import code_of, error_from
from foxden.retry import Abandoned, Retryable, RetryableStatus, RetryPolicy, retry_status


def test_the_retryable_statuses() -> None:
    assert all(retry_status(s) for s in (408, 425, 429, 500, 502, 503, 504, 507))
    assert not any(retry_status(s) for s in (400, 401, 403, 404, 409, 410, 413, 422))


def _reply(status: int) -> RetryableStatus:
    return RetryableStatus(httpx.Response(status, request=httpx.Request("POST", "http://f/x")))


def test_what_may_have_reached_the_server_is_retried_only_when_idempotent() -> None:
    policy = RetryPolicy()
    assert policy.retryable(_reply(502), idempotent=True)
    assert not policy.retryable(_reply(502), idempotent=False)
    assert policy.retryable(_reply(503), idempotent=False)  # not processed: safe to send again
    assert policy.retryable(httpx.ConnectError("refused"), idempotent=False)
    assert not policy.retryable(httpx.ReadError("cut"), idempotent=False)
    assert policy.retryable(Retryable("damaged on the way"), idempotent=False)


def test_a_limitless_policy_tries_until_it_works() -> None:
    waits: list[float] = []
    failures = [Retryable("a"), httpx.ConnectError("b"), _reply(503)]

    def flaky() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    policy = RetryPolicy(attempts=None, base_delay=1, max_delay=2, sleep=waits.append)
    assert policy.call(flaky) == "ok"
    assert len(waits) == 3 and all(0 <= w <= 2 for w in waits)


def test_the_last_failure_is_raised_when_the_attempts_are_spent() -> None:
    def down() -> None:
        raise httpx.ConnectError("refused")

    with pytest.raises(httpx.ConnectError):
        RetryPolicy(attempts=2, sleep=lambda _s: None).call(down)


def test_a_stop_abandons_the_call() -> None:
    stop = threading.Event()
    calls: list[int] = []

    def down() -> None:
        calls.append(1)
        stop.set()
        raise httpx.ConnectError("refused")

    with pytest.raises(Abandoned):
        RetryPolicy(attempts=None, base_delay=5, max_delay=5).call(down, stop=stop)
    assert calls == [1]


def test_error_replies_by_code_then_by_status() -> None:
    request = httpx.Request("GET", "http://farm/api/x")
    coded = httpx.Response(
        409, json={"error": {"code": "conflict", "message": "m"}}, request=request
    )
    assert code_of(coded) == "conflict"
    assert isinstance(error_from(coded), Conflict) and error_from(coded).message == "m"
    assert isinstance(error_from(httpx.Response(410, request=request)), LeaseLost)
    bare = error_from(httpx.Response(502, text="<html>", request=request))
    assert isinstance(bare, ServerUnavailable) and "HTTP 502 to GET /api/x" in bare.message
