"""Upload batches stream to disk: a batch is never held in memory, a batch cut short or carrying
too much stores nothing, a corrupted member is refused alone, a body over the cap is refused
without being read whole. Over real HTTP, on both databases."""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from foxden.server.api.files import MAX_BATCH_BYTES, MAX_BATCH_INDEX
from tests.conftest import LiveServer
from tests.waiting import wait_until

MB = 1 << 20
PIECE = 64 << 10


def _member(i: int, size: int) -> Iterator[bytes]:
    """Member `i`'s bytes (`size` of them), made PIECE bytes at a time."""
    block = hashlib.sha256(str(i).encode()).digest() * (PIECE // 32)
    left = size
    while left:
        piece = block[:left]
        left -= len(piece)
        yield piece


def _hash(i: int, size: int) -> str:
    hasher = hashlib.sha256()
    for piece in _member(i, size):
        hasher.update(piece)
    return hasher.hexdigest()


def _index(entries: list[tuple[str, int]]) -> bytes:
    blobs = [{"hash": digest, "size": size} for digest, size in entries]
    return json.dumps({"blobs": blobs}).encode() + b"\n"


def _partial_dir(live: LiveServer) -> Path:
    return live.farm.store.root / "partial"


def test_a_large_batch_streams_to_disk_within_a_small_memory_bound(
    live_server: LiveServer,
) -> None:
    user = live_server.client(live_server.user_key)
    sizes = [MB - 1] * 30 + [0, 12345]  # 30 MiB and more: near the batch's cap
    entries = [(_hash(i, size), size) for i, size in enumerate(sizes)]
    assert sum(sizes) > 29 * MB and sum(sizes) <= MAX_BATCH_BYTES

    def body() -> Iterator[bytes]:
        yield _index(entries)
        for i, size in enumerate(sizes):
            yield from _member(i, size)

    tracemalloc.start()
    try:
        r = user.post("/api/uploads/batch", content=body())  # chunked: no Content-Length
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status_code == 200, r.text
    assert r.json() == {"stored": [digest for digest, _ in entries], "refused": []}
    # client and server share this process: together they never held more than a few MiB
    assert peak < 8 * MB, f"{peak / MB:.1f} MiB traced at the peak"
    for digest, size in entries:
        path = live_server.farm.store.path(digest)
        assert path.stat().st_size == size
    last = live_server.farm.store.path(entries[-1][0]).read_bytes()
    assert last == b"".join(_member(len(sizes) - 1, sizes[-1]))
    assert list(_partial_dir(live_server).iterdir()) == []
    # the account has them: a manifest naming them needs nothing sent
    manifest = [{"path": f"/b/{i}", "size": s, "hash": d} for i, (d, s) in enumerate(entries)]
    assert user.post("/api/files/check", json={"files": manifest}).json()["missing"] == []


def test_a_corrupted_member_is_refused_alone_and_a_short_batch_stores_nothing(
    live_server: LiveServer,
) -> None:
    user = live_server.client(live_server.user_key)
    store = live_server.farm.store
    sizes = [300_000, 5, 200_000]
    entries = [(_hash(i, size), size) for i, size in enumerate(sizes)]
    data = [b"".join(_member(i, size)) for i, size in enumerate(sizes)]
    damaged = data[1][:-1] + b"?"
    r = user.post("/api/uploads/batch", content=_index(entries) + data[0] + damaged + data[2])
    assert r.status_code == 200, r.text
    reply = r.json()
    assert reply["stored"] == [entries[0][0], entries[2][0]]
    assert [x["hash"] for x in reply["refused"]] == [entries[1][0]]
    assert "corrupted" in reply["refused"][0]["reason"]
    assert not store.exists(entries[1][0])
    assert list(_partial_dir(live_server).iterdir()) == []

    # cut short in its last member: the members before it verified, yet none is stored
    fresh = [(_hash(i, size), size) for i, size in enumerate([70_000, 90_000], start=10)]
    whole = [b"".join(_member(i, size)) for i, size in enumerate([70_000, 90_000], start=10)]
    r = user.post("/api/uploads/batch", content=_index(fresh) + whole[0] + whole[1][:-100])
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert "carries 159900 bytes" in message and "declares 160000" in message
    assert "nothing was stored" in message
    assert not store.exists(fresh[0][0]) and not store.exists(fresh[1][0])
    # one byte too many: refused whole too
    r = user.post("/api/uploads/batch", content=_index(fresh) + whole[0] + whole[1] + b"x")
    assert r.status_code == 400 and "carries 160001 bytes" in r.json()["error"]["message"]
    assert not store.exists(fresh[0][0])
    assert list(_partial_dir(live_server).iterdir()) == []
    entry = {"path": "/c/0", "size": fresh[0][1], "hash": fresh[0][0]}
    assert user.post("/api/files/check", json={"files": [entry]}).json()["missing"] == [fresh[0][0]]


def test_a_body_over_the_cap_is_refused_without_being_buffered(live_server: LiveServer) -> None:
    user = live_server.client(live_server.user_key)
    entries = [(_hash(0, 1000), 1000)]
    # declared too long up front: 413 before a byte of it is read (the client sends a few)
    too_long = MAX_BATCH_INDEX + 1 + MAX_BATCH_BYTES + 1
    host, port = live_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(
            b"POST /api/uploads/batch HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {live_server.user_key}\r\n".encode()
            + f"Content-Length: {too_long}\r\n\r\n".encode()
            + _index(entries)
        )
        reply = conn.makefile("rb").read()
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:200]
    assert b"split it" in reply

    # streamed with no length: 48 MiB where the index declares 1,000 bytes; read up to the cap
    def flood() -> Iterator[bytes]:
        yield _index(entries)
        yield from _member(0, 1000)
        for _ in range(48 * MB // PIECE):
            yield b"\0" * PIECE

    tracemalloc.start()
    try:
        r = user.post("/api/uploads/batch", content=flood())
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert f"more than {MAX_BATCH_BYTES}" in message and "declares 1000" in message, message
    assert peak < 8 * MB, f"{peak / MB:.1f} MiB traced at the peak"
    assert not live_server.farm.store.exists(entries[0][0])
    assert list(_partial_dir(live_server).iterdir()) == []
    # an index line that never ends is refused once it passes its cap
    r = user.post("/api/uploads/batch", content=b"[" * (MAX_BATCH_INDEX + 10))
    assert r.status_code == 400 and "one line of JSON" in r.json()["error"]["message"]


def test_a_client_gone_mid_batch_leaves_nothing_behind(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    sizes = [600_000, 600_000, 600_000]  # the farm writes about a MiB at a time
    entries = [(_hash(i, size), size) for i, size in enumerate(sizes)]
    head = _index(entries)
    sent = head + b"".join(b"".join(_member(i, size)) for i, size in enumerate(sizes))[:-1000]
    host, port = live_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(
            b"POST /api/uploads/batch HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {live_server.user_key}\r\n".encode()
            + f"Content-Length: {len(head) + sum(sizes)}\r\n\r\n".encode()
            + sent
        )
        wait_until(
            "the first member written",
            lambda: any(_partial_dir(live_server).iterdir()),
            timeout=10,
        )
    # the connection is gone: the members that arrived whole are not stored, no file is left
    wait_until("the batch's files removed", lambda: not any(_partial_dir(live_server).iterdir()))
    assert not live_server.farm.store.exists(entries[0][0])
    assert not live_server.farm.store.exists(entries[1][0])
    # a client going away is not a server error
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
