"""The worker's parts without Blender: retry policy, input cache, workspaces, thumbnails."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import httpx
import pytest
from PIL import Image

from foxden.errors import BadRequest
from foxden.worker import workspace as workspaces
from foxden.worker.cache import BlobCache
from foxden.worker.protocol import (
    InputMissing,
    LeaseGone,
    RequestRejected,
    RetryPolicy,
    Stopping,
    TokenRejected,
    WorkerClient,
)
from foxden.worker.settings import parse_size
from foxden.worker.thumbnails import make_thumbnail

FAST = RetryPolicy(base=0.001, cap=0.01)


def client_for(handler: httpx.MockTransport, stop: threading.Event | None = None) -> WorkerClient:
    client = WorkerClient("http://farm.test", stop or threading.Event(), FAST)
    client._http = httpx.Client(base_url="http://farm.test", transport=handler)
    client.token = "fdw_test"
    return client


def test_retry_policy_backs_off_with_jitter_below_the_cap() -> None:
    policy = RetryPolicy(base=0.5, cap=4.0)
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


def blob_server(
    blobs: dict[str, bytes], corrupt_first: set[str] | None = None
) -> tuple[httpx.MockTransport, list[str]]:
    fetched: list[str] = []
    corrupt = set(corrupt_first or ())

    def handler(request: httpx.Request) -> httpx.Response:
        digest = request.url.path.rsplit("/", 1)[1]
        fetched.append(digest)
        if digest not in blobs:
            return httpx.Response(404, json={"error": {"message": "not yours"}})
        if digest in corrupt:
            corrupt.discard(digest)
            return httpx.Response(200, content=b"X" + blobs[digest][1:])
        return httpx.Response(200, content=blobs[digest])

    return httpx.MockTransport(handler), fetched


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_cache_verifies_downloads_and_keeps_them(tmp_path: Path) -> None:
    data = b"scene data" * 100
    h = digest_of(data)
    transport, fetched = blob_server({h: data}, corrupt_first={h})
    client = client_for(transport)
    cache = BlobCache(tmp_path / "blobs", 10_000)
    path = cache.get(h, len(data), client)
    assert path.read_bytes() == data
    assert fetched == [h, h]  # the damaged copy was thrown away and fetched again
    assert not path.stat().st_mode & 0o222  # read-only: workspaces hard-link it
    assert cache.get(h, len(data), client) == path
    assert fetched == [h, h]  # served from the cache
    assert h in BlobCache(tmp_path / "blobs", 10_000)  # known again after a restart


def test_cache_evicts_least_recently_used(tmp_path: Path) -> None:
    datas = [bytes([i]) * 400 for i in range(4)]
    hashes = [digest_of(d) for d in datas]
    transport, _ = blob_server(dict(zip(hashes, datas, strict=True)))
    client = client_for(transport)
    cache = BlobCache(tmp_path / "blobs", 1000)
    cache.get(hashes[0], 400, client)
    cache.get(hashes[1], 400, client)
    cache.get(hashes[0], 400, client)  # 0 is now more recent than 1
    cache.get(hashes[2], 400, client)
    assert hashes[0] in cache and hashes[2] in cache and hashes[1] not in cache
    assert cache.total_bytes <= 1000
    with cache.pinned([hashes[0]]):
        cache.get(hashes[3], 400, client)
    assert hashes[0] in cache and hashes[3] in cache and hashes[2] not in cache


def test_missing_input_is_reported(tmp_path: Path) -> None:
    transport, _ = blob_server({})
    cache = BlobCache(tmp_path / "blobs", 1000)
    with pytest.raises(InputMissing):
        cache.get("a" * 64, 1, client_for(transport))


def test_workspace_mirrors_the_tree_with_hard_links(tmp_path: Path) -> None:
    scene, tex = b"blend", b"png"
    transport, _ = blob_server({digest_of(scene): scene, digest_of(tex): tex})
    cache = BlobCache(tmp_path / "cache" / "blobs", 10_000)
    inputs = [
        {"path": "/v/project/a.blend", "hash": digest_of(scene), "size": len(scene)},
        {"path": "/v/project/tex/t.png", "hash": digest_of(tex), "size": len(tex)},
    ]
    ws = workspaces.create(
        tmp_path / "cache" / "work",
        3,
        9,
        inputs,  # type: ignore[arg-type]
        cache,
        client_for(transport),
    )
    local = ws.tree / "v" / "project" / "a.blend"
    assert local.read_bytes() == scene
    assert local.stat().st_ino == cache.path(digest_of(scene)).stat().st_ino
    assert (ws.tree / "v/project/tex/t.png").read_bytes() == tex
    assert ws.out.is_dir()
    ws.remove()
    assert not ws.root.exists()
    assert cache.path(digest_of(scene)).exists()


@pytest.mark.parametrize("bad", ["/v/../../etc/passwd", "../x", "/a/\x00b"])
def test_workspace_refuses_paths_that_escape(tmp_path: Path, bad: str) -> None:
    ws = workspaces.Workspace(tmp_path / "ws")
    with pytest.raises(BadRequest):
        ws.local(bad)


def test_thumbnail_is_a_small_png(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (1000, 500), (200, 10, 10)).save(path)
    thumb = make_thumbnail(path)
    assert thumb is not None and thumb.startswith(b"\x89PNG")
    (tmp_path / "t.png").write_bytes(thumb)
    with Image.open(tmp_path / "t.png") as img:
        assert max(img.size) == 256
    (tmp_path / "junk.exr").write_bytes(b"\x76\x2f\x31\x01junk")
    assert make_thumbnail(tmp_path / "junk.exr") is None


def test_sizes_parse() -> None:
    assert parse_size("1000") == 1000
    assert parse_size("512M") == 512 << 20
    assert parse_size("20G") == 20 << 30
    assert parse_size("1.5GiB") == int(1.5 * (1 << 30))
    with pytest.raises(ValueError):
        parse_size("lots")


def test_foxden_up_credentials_are_made_once_and_checked(tmp_path: Path) -> None:
    from foxden.cli.embedded import ensure_credentials
    from foxden.server.config import Settings
    from foxden.server.context import Farm

    farm = Farm.open(Settings(data_dir=tmp_path / "farm"))
    try:
        url = "http://127.0.0.1:8642"
        creds, created = ensure_credentials(farm, farm.settings.data_dir, url)
        path = farm.settings.data_dir / "credentials.json"
        assert created and path.stat().st_mode & 0o777 == 0o600
        assert creds["render_server"] == url and creds["access_key"]
        assert ensure_credentials(farm, farm.settings.data_dir, url) == (creds, False)
        path.write_text('{"render_server": "x", "account": "admin", "access_key": "fdk_bad"}')
        fresh, created = ensure_credentials(farm, farm.settings.data_dir, url)
        assert created and fresh["access_key"] != "fdk_bad" and fresh["account"] != "admin"
    finally:
        farm.close()
