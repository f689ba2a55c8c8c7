"""The client's retry policy."""

from __future__ import annotations

import httpx
import pytest

from foxden.client.api import Client
from foxden.errors import Conflict, ServerUnavailable, TransferError
from foxden.retry import RetryPolicy


def _mock(replies: list[int], seen: list[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        code = replies.pop(0)
        if code == 0:
            raise httpx.ConnectError("refused", request=request)
        if code >= 400:
            return httpx.Response(
                code,
                json={"error": {"code": "conflict" if code == 409 else "", "message": f"m{code}"}},
            )
        return httpx.Response(code, json={"ok": True})

    return httpx.MockTransport(handler)


def _client(replies: list[int], seen: list[str], attempts: int = 4) -> Client:
    waits: list[float] = []
    return Client(
        "farm",
        "k",
        transport=_mock(replies, seen),
        retry=RetryPolicy(attempts=attempts, sleep=waits.append),
    )


def test_retries_transient_failures() -> None:
    seen: list[str] = []
    assert _client([0, 503, 502, 200], seen).request("GET", "/api/x") == {"ok": True}
    assert seen == ["GET"] * 4


def test_post_is_not_retried_after_it_may_have_arrived() -> None:
    seen: list[str] = []
    with pytest.raises(ServerUnavailable):
        _client([502, 200], seen).request("POST", "/api/tasks", idempotent=False)
    assert seen == ["POST"]
    seen.clear()
    assert _client([0, 200], seen).request("POST", "/api/tasks", idempotent=False) == {"ok": True}
    assert seen == ["POST", "POST"]  # a refused connection never reached the server


def test_gives_up_after_the_attempts() -> None:
    seen: list[str] = []
    with pytest.raises(ServerUnavailable, match="m503"):
        _client([503] * 3, seen, attempts=3).request("GET", "/api/x")
    assert len(seen) == 3


def test_error_replies_map_to_the_family() -> None:
    seen: list[str] = []
    with pytest.raises(Conflict, match="m409"):
        _client([409], seen).request("GET", "/x")
    with pytest.raises(TransferError):
        _client([422], seen).request("GET", "/x")  # no code: mapped by status


def test_backoff_is_capped_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_delay=1, max_delay=5)
    assert all(0 <= policy.delay(n) <= 5 for n in range(20))
    assert policy.delay(0, retry_after=2.5) == 2.5
