"""Uploads at the HTTP level: verified chunks, resuming at the server's offset, corrupt data refused,
batches of small blobs both ways."""

from __future__ import annotations

import hashlib
import json
import os
import threading

import pytest

from foxden.server.api.files import MAX_BATCH_BLOBS, MAX_BATCH_BYTES
from tests.conftest import LiveServer


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_chunked_upload_resumes_and_verifies(live_server: LiveServer) -> None:
    user = live_server.client(live_server.user_key)
    data = bytes(range(256)) * 1000
    digest = _sha(data)
    entry = {"path": r"v:\p\big.bin", "size": len(data), "hash": digest}
    assert user.post("/api/files/check", json={"files": [entry]}).json()["missing"] == [digest]
    first = data[:100_000]
    r = user.put(
        f"/api/uploads/{digest}",
        params={"offset": 0, "total": len(data)},
        content=first,
        headers={"X-Chunk-Sha256": _sha(first)},
    )
    assert r.json() == {"hash": digest, "offset": 100_000, "complete": False}
    # an interrupted client asks where to continue
    assert user.get(f"/api/uploads/{digest}").json()["offset"] == 100_000
    # a chunk at the wrong offset is refused and says where to continue
    r = user.put(f"/api/uploads/{digest}", params={"offset": 5, "total": len(data)}, content=b"x")
    assert r.status_code == 409 and "offset 100000" in r.json()["error"]["message"]
    # a corrupted chunk is refused and nothing is appended
    rest = data[100_000:]
    bad = b"\x00" + rest[1:]
    r = user.put(
        f"/api/uploads/{digest}",
        params={"offset": 100_000, "total": len(data)},
        content=bad,
        headers={"X-Chunk-Sha256": _sha(rest)},
    )
    assert r.status_code == 422 and "send it again" in r.json()["error"]["message"]
    assert user.get(f"/api/uploads/{digest}").json()["offset"] == 100_000
    r = user.put(
        f"/api/uploads/{digest}",
        params={"offset": 100_000, "total": len(data)},
        content=rest,
        headers={"X-Chunk-Sha256": _sha(rest)},
    )
    assert r.json()["complete"] is True
    user.post("/api/files/commit", json={"files": [entry]}).raise_for_status()
    assert user.get(f"/api/blobs/{digest}").content == data
    ranged = user.get(f"/api/blobs/{digest}", headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.content == data[10:20]
    listed = user.get("/api/files", params={"prefix": "/v/p"}).json()
    assert [(f["path"], f["size"]) for f in listed] == [("/v/p/big.bin", len(data))]
    # unchanged re-upload: one round trip, nothing missing
    again = user.post("/api/files/check", json={"files": [entry]}).json()
    assert again["missing"] == [] and again["recorded"] == ["/v/p/big.bin"]


def test_whole_blob_that_does_not_match_its_hash_is_refused(live_server: LiveServer) -> None:
    user = live_server.client(live_server.user_key)
    claimed = _sha(b"what I meant to send")
    r = user.put(f"/api/uploads/{claimed}", params={"offset": 0, "total": 4}, content=b"junk")
    assert r.status_code == 422 and "corrupted" in r.json()["error"]["message"]
    assert user.get(f"/api/blobs/{claimed}").status_code == 404
    r = user.post("/api/files/commit", json={"files": [{"path": "/x", "size": 4, "hash": claimed}]})
    assert r.status_code == 400 and "upload it first" in r.json()["error"]["message"]
    assert user.put("/api/uploads/nothex", params={"total": 1}, content=b"x").status_code == 400


def _batch(blobs: list[tuple[str, bytes]]) -> bytes:
    """An upload batch: one JSON line naming (hash, size), then the bytes back to back."""
    index = {"blobs": [{"hash": h, "size": len(data)} for h, data in blobs]}
    return json.dumps(index).encode() + b"\n" + b"".join(data for _, data in blobs)


def test_batch_upload_refuses_the_corrupted_blob_and_stores_the_rest(
    live_server: LiveServer,
) -> None:
    user = live_server.client(live_server.user_key)
    good = [os.urandom(1000 + i) for i in range(5)] + [b""]
    meant = b"what I meant to send"
    blobs = [(_sha(d), d) for d in good[:3]] + [(_sha(meant), b"what I meant to semd")]
    blobs += [(_sha(d), d) for d in good[3:]]
    r = user.post("/api/uploads/batch", content=_batch(blobs))
    assert r.status_code == 200, r.text
    reply = r.json()
    assert reply["stored"] == [_sha(d) for d in good]
    assert [x["hash"] for x in reply["refused"]] == [_sha(meant)]
    assert "corrupted" in reply["refused"][0]["reason"]
    # the good ones are the account's; the bad one is neither stored nor owned
    entries = [{"path": f"/b/{i}", "size": len(d), "hash": _sha(d)} for i, d in enumerate(good)]
    assert user.post("/api/files/check", json={"files": entries}).json()["missing"] == []
    assert not live_server.farm.store.exists(_sha(meant))
    assert user.get(f"/api/blobs/{_sha(meant)}").status_code == 404
    # read back in one request, in the order asked (a hash may come twice)
    order = [_sha(good[4]), _sha(good[0]), _sha(good[5]), _sha(good[4])]
    r = user.post("/api/blobs/batch", json={"hashes": order})
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    assert r.content == good[4] + good[0] + good[5] + good[4]
    # one hash the account lacks makes the whole request 404, naming it
    r = user.post("/api/blobs/batch", json={"hashes": [_sha(good[0]), _sha(meant)]})
    assert r.status_code == 404 and _sha(meant) in r.json()["error"]["message"]


def test_batch_framing_and_limits_are_enforced(live_server: LiveServer) -> None:
    user = live_server.client(live_server.user_key)
    data = b"some bytes"
    digest = _sha(data)

    def refused(body: bytes, words: str) -> None:
        r = user.post("/api/uploads/batch", content=body)
        assert r.status_code == 400, r.text
        assert words in r.json()["error"]["message"], r.json()

    refused(data, "one line of JSON")
    refused(b'{"files": []}\n', '{"blobs"')
    refused(b"[1, 2]\n", '{"blobs"')
    refused(_batch([(digest, data)])[:-1], "declares 10")  # a byte short
    refused(_batch([(digest, data)]) + b"x", "declares 10")  # a byte too many
    refused(_batch([(digest, data), (digest, data)]), "listed twice")
    refused(_batch([("nothex", data)]), "not a SHA-256")
    index = {"blobs": [{"hash": digest, "size": -1}]}
    refused(json.dumps(index).encode() + b"\n", "whole number")
    many = [(_sha(str(i).encode()), str(i).encode()) for i in range(MAX_BATCH_BLOBS + 1)]
    refused(_batch(many), f"at most {MAX_BATCH_BLOBS} blobs")
    index = {"blobs": [{"hash": digest, "size": MAX_BATCH_BYTES + 1}]}
    refused(json.dumps(index).encode() + b"\n", f"at most {MAX_BATCH_BYTES} bytes")
    big = os.urandom(MAX_BATCH_BYTES + 1)
    refused(_batch([(_sha(big), big)]), f"at most {MAX_BATCH_BYTES} bytes")
    assert not live_server.farm.store.exists(digest)  # a refused batch stores nothing
    # downloads: as many hashes at most, as many bytes at most, well-formed hashes
    r = user.post("/api/blobs/batch", json={"hashes": [digest] * (MAX_BATCH_BLOBS + 1)})
    assert r.status_code == 400 and f"at most {MAX_BATCH_BLOBS} blobs" in r.text
    assert user.post("/api/blobs/batch", json={"hashes": ["nothex"]}).status_code == 400
    half = os.urandom(MAX_BATCH_BYTES // 2 + 1)
    stored = user.post("/api/uploads/batch", content=_batch([(_sha(half), half)])).json()
    assert stored == {"stored": [_sha(half)], "refused": []}
    r = user.post("/api/blobs/batch", json={"hashes": [_sha(half), _sha(half)]})
    assert r.status_code == 400 and f"at most {MAX_BATCH_BYTES} bytes" in r.text


def test_chunks_checked_by_their_prefix_hash(live_server: LiveServer) -> None:
    user = live_server.client(live_server.user_key)
    data = os.urandom(300_000)
    digest = _sha(data)
    url, total = f"/api/uploads/{digest}", len(data)
    first = user.put(
        url,
        params={"offset": 0, "total": total},
        content=data[:100_000],
        headers={"X-Prefix-Sha256": _sha(data[:100_000])},
    )
    assert first.json() == {"hash": digest, "offset": 100_000, "complete": False}
    damaged = data[100_000:-1] + bytes([data[-1] ^ 1])
    r = user.put(
        url,
        params={"offset": 100_000, "total": total},
        content=damaged,
        headers={"X-Prefix-Sha256": digest},
    )
    assert r.status_code == 422 and "send it again" in r.json()["error"]["message"]
    assert user.get(url).json()["offset"] == 100_000  # nothing appended
    r = user.put(
        url,
        params={"offset": 100_000, "total": total},
        content=data[100_000:],
        headers={"X-Prefix-Sha256": digest},
    )
    assert r.json()["complete"] is True
    assert user.get(f"/api/blobs/{digest}").content == data


def test_an_unchanged_manifest_takes_no_write_transaction(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = live_server.client(live_server.user_key)
    data = b"scene data"
    digest = _sha(data)
    entry = {"path": r"v:\p\scene.txt", "size": len(data), "hash": digest, "mtime": 1000.0}
    user.post("/api/files/check", json={"files": [entry]}).raise_for_status()
    user.put(f"/api/uploads/{digest}", params={"offset": 0, "total": len(data)}, content=data)
    user.post("/api/files/commit", json={"files": [entry]}).raise_for_status()
    db = live_server.farm.db
    writes: list[int] = []
    real_write = db.write

    def counted() -> object:
        if not threading.current_thread().name.startswith("foxden-"):  # not the reaper's
            writes.append(1)
        return real_write()

    monkeypatch.setattr(db, "write", counted)
    again = user.post("/api/files/check", json={"files": [entry]}).json()
    assert again["recorded"] == ["/v/p/scene.txt"] and writes == []
    lacking = {"path": r"v:\p\new.txt", "size": 3, "hash": _sha(b"new"), "mtime": 1.0}
    assert user.post("/api/files/check", json={"files": [lacking]}).json()["pending"] == [
        "/v/p/new.txt"
    ]
    assert writes == []  # nothing to record either
    touched = {**entry, "mtime": 2000.0}
    user.post("/api/files/check", json={"files": [touched]}).raise_for_status()
    assert writes == [1]
    listed = user.get("/api/files", params={"prefix": "/v/p"}).json()
    assert [(f["path"], f["mtime"]) for f in listed] == [("/v/p/scene.txt", 2000.0)]
