"""Uploads at the HTTP level: verified chunks, resuming at the server's offset, corrupt data refused."""

from __future__ import annotations

import hashlib

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
