"""The worker's client of the farm: the retry policy and typed errors."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from foxden.retry import RetryPolicy
from foxden.wire.worker import ClaimIn, FrameResult
from foxden.worker.protocol import (
    LeaseGone,
    RequestRejected,
    Stopping,
    TokenRejected,
)
from tests.worker.fakefarm import client_for


def test_retry_policy_backs_off_with_jitter_below_the_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    delays = [policy.delay(n) for n in range(12) for _ in range(20)]
    assert all(0.0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 100  # jittered, not a fixed schedule


def test_transient_failures_are_retried_until_they_pass() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("refused")
        if len(calls) == 2:
            return httpx.Response(503, json={"error": {"message": "busy"}})
        return httpx.Response(204)

    assert client_for(httpx.MockTransport(handler)).claim() is None
    assert len(calls) == 3


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, TokenRejected),
        (410, LeaseGone),
        (404, LeaseGone),
        (422, RequestRejected),
        (409, RequestRejected),
    ],
)
def test_error_replies_become_typed_errors_at_once(status: int, error: type[Exception]) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(status, json={"error": {"message": "no"}})

    with pytest.raises(error):
        client_for(httpx.MockTransport(handler)).heartbeat(7, {1: 0.5}, {})
    assert len(calls) == 1


def test_a_stopping_worker_abandons_retries() -> None:
    stop = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        stop.set()
        raise httpx.ConnectError("refused")

    with pytest.raises(Stopping):
        client_for(httpx.MockTransport(handler), stop).claim()


def test_a_report_sent_again_carries_the_same_key() -> None:
    """A report whose reply was lost is retried with its own key, so a farm that applied it
    answers with that reply (server/replays.py); the next report has a key of its own."""
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(json.loads(request.content)["key"])
        if len(keys) == 1:
            raise httpx.ReadTimeout("the reply never came")
        return httpx.Response(200, json={"accepted": [1], "rejected": [], "leases": []})

    client = client_for(httpx.MockTransport(handler))
    result = FrameResult(frame=1, status="done")
    assert client.report(7, [result], ClaimIn())["accepted"] == [1]
    client.report(7, [result])
    assert len(keys) == 3
    assert keys[0] == keys[1] != keys[2]
