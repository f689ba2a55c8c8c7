"""The input cache: verified downloads, eviction, missing inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from foxden.worker.cache import BlobCache
from foxden.worker.protocol import (
    InputMissing,
)
from tests.worker.fakefarm import blob_server, client_for, digest_of


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
