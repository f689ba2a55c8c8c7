"""An upload hashes each byte once on each side and holds no chunk whole in memory; the farm
still refuses a byte damaged on the way, and a file whose hash the cache knew is hashed once
when the farm lacks it."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import pytest

from foxden.client.api import Client
from foxden.client.transfer import Marks, hash_with_marks
from tests.client.conftest import age
from tests.conftest import LiveServer

MIB = 1 << 20
_SHA256 = hashlib.sha256  # the test's own, not counted


def _sha(data: bytes) -> str:
    return _SHA256(data).hexdigest()


class _Hasher:
    """A SHA-256 that adds the bytes it is given to its counter (hmac may use it too)."""

    def __init__(self, counter: _Counting, real: Any) -> None:
        self.counter = counter
        self.real = real

    def update(self, block: Any) -> None:
        self.counter.bytes += memoryview(block).nbytes
        self.real.update(block)

    def copy(self) -> _Hasher:
        return _Hasher(self.counter, self.real.copy())

    def __getattr__(self, name: str) -> Any:  # digest, hexdigest, block_size, ...
        return getattr(self.real, name)


class _Counting:
    """Stands for hashlib.sha256 in client and server alike: counts the bytes hashed."""

    def __init__(self) -> None:
        self.bytes = 0

    def __call__(self, data: bytes = b"", **_kw: Any) -> _Hasher:
        hasher = _Hasher(self, _SHA256())
        if data:
            hasher.update(data)
        return hasher


def _file(tmp_path: Path, name: str, size: int) -> Path:
    path = tmp_path / "up" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    age(path.parent)
    return path


def _stored(server: LiveServer, path: Path) -> bytes:
    return server.farm.store.path(_sha(path.read_bytes())).read_bytes()


def test_each_byte_is_hashed_once_by_the_client_and_once_by_the_farm(
    live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = _file(tmp_path, "big.bin", 5 * MIB + 77)  # chunks of 1 MiB
    small = [_file(tmp_path, f"s{i}.bin", 3000 + i) for i in range(5)]  # one batch
    total = big.stat().st_size + sum(p.stat().st_size for p in small)
    counter = _Counting()
    monkeypatch.setattr(hashlib, "sha256", counter)
    with Client(live_server.url, live_server.user_key, chunk_size=MIB, progress=False) as client:
        stats = client.upload([tmp_path / "up"])
    assert stats.files_sent == 6 and stats.chunks_sent == 6 and stats.batches_sent == 1
    assert stats.bytes_hashed == total
    # client and farm once each (keys and request checks hash a few bytes more); before, a
    # chunk was hashed again by the client, and the farm hashed it twice (chunk, then blob)
    assert 2 * total <= counter.bytes < 2 * total + 64 * 1024
    assert _stored(live_server, big) == big.read_bytes()


def test_an_upload_holds_no_chunk_whole_in_memory(live_server: LiveServer, tmp_path: Path) -> None:
    big = _file(tmp_path, "big.bin", 40 * MIB)
    with Client(
        live_server.url, live_server.user_key, chunk_size=32 * MIB, progress=False
    ) as client:
        client.me()  # connections and imports warmed up before measuring
        tracemalloc.start()
        try:
            stats = client.upload([big])
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert stats.chunks_sent == 2
    # client and farm (same process here) together, with 32 MiB chunks: pieces of ~1 MiB
    # (about 5 MiB in all; a chunk held whole would be 32 MiB at least)
    assert peak < 12 * MIB, f"peak {peak / MIB:.1f} MiB"
    assert _stored(live_server, big) == big.read_bytes()


class _DamageInTransit(httpx.HTTPTransport):
    """Flips one byte of the body of the first upload chunk at `offset`."""

    def __init__(self, offset: int) -> None:
        super().__init__()
        self.offset = offset
        self.damaged = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        hit = request.method == "PUT" and request.url.params.get("offset") == str(self.offset)
        if not hit or self.damaged:
            return super().handle_request(request)
        self.damaged += 1
        body = bytearray(request.read())
        body[len(body) // 2] ^= 0x01
        bad = httpx.Request(
            request.method, request.url, headers=request.headers, content=bytes(body)
        )
        return super().handle_request(bad)


def test_a_byte_damaged_in_transit_is_refused_and_its_chunk_sent_again(
    live_server: LiveServer, tmp_path: Path
) -> None:
    big = _file(tmp_path, "big.bin", 3 * MIB + 5)
    transport = _DamageInTransit(offset=2 * MIB)
    with Client(
        live_server.url, live_server.user_key, chunk_size=MIB, progress=False, transport=transport
    ) as client:
        stats = client.upload([big])
    assert transport.damaged == 1
    assert stats.chunks_resent == 1 and stats.bytes_sent == big.stat().st_size + MIB
    assert _stored(live_server, big) == big.read_bytes()


def test_a_file_the_cache_knew_is_hashed_once_when_the_farm_lacks_it(
    live_server: LiveServer, tmp_path: Path
) -> None:
    big = _file(tmp_path, "big.bin", 3 * MIB + 1)
    with Client(live_server.url, live_server.user_key, chunk_size=MIB, progress=False) as client:
        first = client.upload([big])
    assert first.bytes_hashed == big.stat().st_size
    other = live_server.new_account("bob")  # an account that does not have it; same cache
    transport = _DamageInTransit(offset=MIB)
    with Client(
        live_server.url, other, chunk_size=MIB, progress=False, transport=transport
    ) as client:
        again = client.upload([big])
    assert again.bytes_hashed == big.stat().st_size  # for the chunks' marks, once
    assert again.files_sent == 1 and again.chunks_resent == 1  # and they are checked
    assert _stored(live_server, big) == big.read_bytes()


@pytest.mark.parametrize("size", [0, 1, MIB - 1, MIB, MIB + 1, 3 * MIB, 3 * MIB + 17])
def test_marks_are_the_running_hash_at_each_chunk_boundary(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    digest, got, marks = hash_with_marks(path, MIB)
    assert (digest, got) == (_sha(data), size)
    ends = []
    offset = 0
    while offset < size:
        end = marks.end(offset, size)
        assert marks.at(end, size) == _sha(data[:end])
        ends.append(end)
        offset = end
    assert ends == [min(e, size) for e in range(MIB, size + MIB, MIB)][: len(ends)]
    # a resumed upload may start between boundaries: its chunk ends at the next one
    assert Marks(MIB, marks.prefixes, digest).end(MIB // 2, 3 * MIB) == MIB


def test_a_big_file_is_sent_as_soon_as_it_is_hashed_and_recorded_by_the_check(
    live_server: LiveServer, tmp_path: Path
) -> None:
    first = _file(tmp_path, "a-big.bin", 2 * MIB + 3)  # bigger than a chunk: sent at once
    twin = tmp_path / "up" / "b-twin.bin"  # the same content under another name: sent once
    twin.write_bytes(first.read_bytes())
    second = _file(tmp_path, "c-big.bin", 3 * MIB)
    small = [_file(tmp_path, f"s{i}.bin", 100 + i) for i in range(3)]  # after the check
    seen: list[str] = []
    with Client(
        live_server.url, live_server.user_key, chunk_size=MIB, progress=False, workers=1
    ) as client:
        client.http.event_hooks = {"request": [lambda r: seen.append(f"{r.method} {r.url.path}")]}
        stats = client.upload([tmp_path / "up"])
    check = seen.index("POST /api/files/check")
    big_puts = [i for i, r in enumerate(seen) if r.startswith("PUT /api/uploads/")]
    assert len(big_puts) == 3 + 3 and max(big_puts) < check  # both big blobs, 3 chunks each
    assert seen[check + 1 :] == ["POST /api/uploads/batch", "POST /api/files/commit"]
    assert stats.files_sent == 2 + 3 and stats.files_skipped == 0 and stats.files == 6
    assert stats.bytes_sent == 2 * MIB + 3 + 3 * MIB + sum(100 + i for i in range(3))
    with live_server.client(live_server.user_key) as http:
        tree = {f["path"]: f["hash"] for f in http.get("/api/files").json()}
    for path in [first, twin, second, *small]:
        assert tree[str(path)] == _sha(path.read_bytes())
    assert _stored(live_server, second) == second.read_bytes()
    # again, unchanged: nothing is sent, everything is skipped, one request
    seen.clear()
    with Client(
        live_server.url, live_server.user_key, chunk_size=MIB, progress=False, workers=1
    ) as client:
        client.http.event_hooks = {"request": [lambda r: seen.append(f"{r.method} {r.url.path}")]}
        again = client.upload([tmp_path / "up"])
    assert seen == ["POST /api/files/check"]
    assert again.files_skipped == 6 and again.bytes_sent == 0 and again.files_sent == 0
