"""The blob store hashes each uploaded byte once: chunks extend a running hash kept per partial
upload, a completed upload is not read back, and damage (in a chunk, or on disk before a restart)
is still refused."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from foxden.errors import TransferError
from foxden.store import blobs
from foxden.store.blobs import BlobStore

CHUNK = 256 << 10
OWNER = "a1"
_SHA256 = hashlib.sha256  # the test's own, not counted


def _sha(data: bytes) -> str:
    return _SHA256(data).hexdigest()


async def _body(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 64 << 10):  # as a request body arrives: in pieces
        yield data[i : i + (64 << 10)]


def _chunk(
    store: BlobStore,
    data: bytes,
    offset: int,
    piece: bytes,
    *,
    prefix: str | None = None,
    chunk_hash: str | None = None,
) -> int:
    async def go() -> int:
        return await store.receive_chunk(
            OWNER, _sha(data), offset, len(data), _body(piece), chunk_hash, prefix
        )

    return anyio.run(go)


class _Hasher:
    """A SHA-256 that adds the bytes it is given to its counter."""

    def __init__(self, counter: _Counting, real: Any) -> None:
        self.counter = counter
        self.real = real

    def update(self, block: Any) -> None:
        self.counter.bytes += memoryview(block).nbytes
        self.real.update(block)

    def copy(self) -> _Hasher:
        return _Hasher(self.counter, self.real.copy())

    def hexdigest(self) -> str:
        return str(self.real.hexdigest())


class _Counting:
    """Stands for hashlib.sha256: counts the bytes all its hashers are given."""

    def __init__(self) -> None:
        self.bytes = 0

    def __call__(self, data: bytes = b"") -> _Hasher:
        hasher = _Hasher(self, _SHA256())
        if data:
            hasher.update(data)
        return hasher


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Counting]:
    counter = _Counting()
    monkeypatch.setattr(hashlib, "sha256", counter)  # what the store calls
    yield counter


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def _no_reread(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: Path) -> tuple[str, int]:
        raise AssertionError(f"{path} was read back to hash it")

    monkeypatch.setattr(blobs, "file_digest", refuse)


def test_chunks_are_hashed_once_and_the_blob_is_not_read_back(
    store: BlobStore, counting: _Counting, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(3 * CHUNK + 1000)
    digest = _sha(data)
    _no_reread(monkeypatch)
    for offset in range(0, len(data), CHUNK):
        end = min(offset + CHUNK, len(data))
        got = _chunk(store, data, offset, data[offset:end], prefix=_sha(data[:end]))
        assert got == end
    assert store.complete(OWNER, digest) == len(data)
    assert counting.bytes == len(data)  # every byte once, nothing read back
    assert store.path(digest).read_bytes() == data
    assert store.intact_path(digest) == store.path(digest)  # verified as it was written


def test_a_damaged_chunk_is_refused_and_the_upload_goes_on(
    store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(2 * CHUNK)
    digest = _sha(data)
    _chunk(store, data, 0, data[:CHUNK], prefix=_sha(data[:CHUNK]))
    damaged = data[CHUNK:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(TransferError, match="corrupted: send it again"):
        _chunk(store, data, CHUNK, damaged, prefix=digest)
    assert store.received(OWNER, digest) == CHUNK  # nothing appended
    _no_reread(monkeypatch)  # the running hash was put back as it was
    assert _chunk(store, data, CHUNK, data[CHUNK:], prefix=digest) == len(data)
    assert store.complete(OWNER, digest) == len(data)
    assert store.path(digest).read_bytes() == data


def test_chunks_without_a_prefix_hash_are_still_verified_at_completion(store: BlobStore) -> None:
    data = os.urandom(2 * CHUNK)
    digest = _sha(data)
    # an older client's chunk hash is still checked
    with pytest.raises(TransferError):
        _chunk(store, data, 0, data[:CHUNK], chunk_hash=_sha(b"something else"))
    _chunk(store, data, 0, data[:CHUNK], chunk_hash=_sha(data[:CHUNK]))
    _chunk(store, data, CHUNK, bytes(CHUNK))  # no check given: wrong bytes get in
    with pytest.raises(TransferError, match="corrupted"):
        store.complete(OWNER, digest)  # ... but the blob's own hash refuses them
    assert not store.exists(digest) and store.received(OWNER, digest) == 0


def test_a_resumed_upload_after_a_restart_hashes_what_arrived_before(
    store: BlobStore, tmp_path: Path, counting: _Counting
) -> None:
    data = os.urandom(3 * CHUNK)
    digest = _sha(data)
    _chunk(store, data, 0, data[:CHUNK], prefix=_sha(data[:CHUNK]))
    restarted = BlobStore(tmp_path / "blobs")  # a new process: no running hash in memory
    before = counting.bytes
    end = 2 * CHUNK
    assert _chunk(restarted, data, CHUNK, data[CHUNK:end], prefix=_sha(data[:end])) == end
    assert counting.bytes - before == end  # the part on disk once, the new chunk once
    _chunk(restarted, data, end, data[end:], prefix=digest)
    assert restarted.complete(OWNER, digest) == len(data)
    assert restarted.path(digest).read_bytes() == data


def test_damage_on_disk_before_a_restart_starts_the_upload_over(
    store: BlobStore, tmp_path: Path
) -> None:
    data = os.urandom(2 * CHUNK)
    digest = _sha(data)
    _chunk(store, data, 0, data[:CHUNK], prefix=_sha(data[:CHUNK]))
    part = next((tmp_path / "blobs" / "partial").glob(f"{OWNER}-{digest}"))
    with part.open("r+b") as fh:  # the partial file is damaged while the server is down
        fh.write(b"\x00")
    restarted = BlobStore(tmp_path / "blobs")
    with pytest.raises(TransferError, match="from the start"):
        _chunk(restarted, data, CHUNK, data[CHUNK:], prefix=digest)
    assert restarted.received(OWNER, digest) == 0  # the client asks and sends it all again
    _chunk(restarted, data, 0, data[:CHUNK], prefix=_sha(data[:CHUNK]))
    _chunk(restarted, data, CHUNK, data[CHUNK:], prefix=digest)
    assert restarted.complete(OWNER, digest) == len(data)
    assert restarted.path(digest).read_bytes() == data


def test_a_partial_file_changed_by_another_process_is_hashed_again(
    store: BlobStore, tmp_path: Path
) -> None:
    data = os.urandom(2 * CHUNK)
    digest = _sha(data)
    _chunk(store, data, 0, data[:CHUNK], prefix=_sha(data[:CHUNK]))
    other = BlobStore(tmp_path / "blobs")  # a second server on the same store
    _chunk(other, data, CHUNK, data[CHUNK:], prefix=digest)
    # this server's running hash is of a shorter file: it hashes the file instead
    assert store.complete(OWNER, digest) == len(data)
    assert store.path(digest).read_bytes() == data


def test_a_blob_in_a_batch_is_hashed_once(store: BlobStore, counting: _Counting) -> None:
    data = os.urandom(5000)
    assert store.put_whole(data, _sha(data)) == len(data)
    assert counting.bytes == len(data)
    with pytest.raises(TransferError):
        store.put_whole(data[:-1] + b"x", _sha(data))
