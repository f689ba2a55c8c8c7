"""Units of the client: server addresses, the stored login, the retry policy, the hash cache."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import httpx
import pytest

from foxden.client.api import Client
from foxden.client.hashcache import HashCache
from foxden.client.retry import RetryPolicy
from foxden.client.settings import Login, load_login, save_login, server_url
from foxden.errors import BadRequest, Conflict, ServerUnavailable, TransferError, Unauthorized


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("farm", "http://farm:8642"),
        ("www5.renderbus.com", "http://www5.renderbus.com:8642"),
        ("farm:9000", "http://farm:9000"),
        ("127.0.0.1:80", "http://127.0.0.1:80"),
        ("https://farm.example.com/", "https://farm.example.com"),
        ("http://farm:1/base", "http://farm:1/base"),
    ],
)
def test_server_url(given: str, url: str) -> None:
    assert server_url(given) == url


@pytest.mark.parametrize("bad", ["", "ftp://x", "a b", "farm/x"])
def test_bad_server_url(bad: str) -> None:
    with pytest.raises(BadRequest):
        server_url(bad)


def test_login_file_is_private_and_env_overrides(tmp_path: Path) -> None:
    path = save_login(Login("http://farm:8642", "alice", "k1"), tmp_path / "c.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_login({}, path) == Login("http://farm:8642", "alice", "k1")
    env = {"FOXDEN_SERVER": "other:1", "FOXDEN_ACCESS_KEY": "k2"}
    assert load_login(env, path) == Login("other:1", "alice", "k2")
    with pytest.raises(Unauthorized, match="foxden login"):
        load_login({}, tmp_path / "none.json")


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


def test_hash_cache_skips_unchanged_files(tmp_path: Path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(b"x" * 1000)
    past = time.time() - 100
    os.utime(f, (past, past))
    cache = HashCache(tmp_path / "h.sqlite")
    first, _ = cache.hash(f)
    cache.flush()
    assert cache.bytes_hashed == 1000
    again = HashCache(tmp_path / "h.sqlite")
    assert again.hash(f)[0] == first and again.bytes_hashed == 0
    f.write_bytes(b"y" * 1000)  # same size, new mtime
    assert again.hash(f)[0] != first and again.bytes_hashed == 1000


def test_hash_cache_does_not_trust_racy_entries(tmp_path: Path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(b"fresh")
    cache = HashCache(tmp_path / "h.sqlite")
    cache.hash(f)
    cache.hash(f)  # written just now: could still change within the same mtime tick
    assert cache.bytes_hashed == 10
