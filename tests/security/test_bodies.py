"""Every body is bounded and streamed: attacks with huge bodies and huge values, over real HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from foxden.store.blobs import FILE_MODE
from tests.conftest import farm_settings, free_port, running_server
from tests.farmkit import upload
from tests.waiting import wait_until

MB = 1 << 20
BIG = 600 * MB
FOXDEN = [sys.executable, "-m", "foxden.cli"]


def _blocks(total: int, seed: bytes = b"foxden") -> Iterator[bytes]:
    """`total` bytes of varied content, made 1 MiB at a time (never held whole)."""
    base = hashlib.sha256(seed).digest() * (MB // 32)
    sent = 0
    number = 0
    while sent < total:
        block = number.to_bytes(8, "big") + base[8:]
        block = block[: total - sent]
        sent += len(block)
        number += 1
        yield block


def _digest(total: int) -> str:
    hasher = hashlib.sha256()
    for block in _blocks(total):
        hasher.update(block)
    return hasher.hexdigest()


def _peak_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@contextmanager
def _served(tmp_path: Path, db_url: str) -> Iterator[tuple[str, int, str]]:
    """`foxden serve` in a subprocess; yields its URL, its pid and an account's key."""
    data = tmp_path / "served"
    env = {**os.environ, "FOXDEN_DATABASE_URL": db_url}
    made = subprocess.run(
        [*FOXDEN, "account", "create", "alice", "--data-dir", str(data)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = json.loads(made.stdout)["access_key"]
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [*FOXDEN, "serve", "--data-dir", str(data), "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "server did not start"
            return False

        wait_until("the server to start", healthy, timeout=30)
        yield url, proc.pid, key
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
        shutil.rmtree(data, ignore_errors=True)


def test_a_600_mb_upload_is_streamed_not_held(db_url: str, tmp_path: Path) -> None:
    digest = _digest(BIG)
    with _served(tmp_path, db_url) as (url, pid, key):
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=300)
        small = b"warm-up: the first upload loads what every upload needs"
        assert upload(client, "/v/warm.txt", small)
        before = _peak_kb(pid)

        # one piece, with its length declared: the whole-blob path
        reply = client.put(
            f"/api/uploads/{digest}",
            params={"offset": 0, "total": BIG},
            content=_blocks(BIG),
            headers={"Content-Length": str(BIG)},
        )
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"hash": digest, "offset": BIG, "complete": True}
        # the same again as a chunked body of unknown length: the resumable path, and a blob
        # the farm already has
        reply = client.put(
            f"/api/uploads/{digest}", params={"offset": 0, "total": BIG}, content=_blocks(BIG)
        )
        assert reply.status_code == 200, reply.text
        grown_mb = (_peak_kb(pid) - before) / 1024
        print(f"peak memory: {before / 1024:.0f} MB before, grew {grown_mb:.1f} MB")
        assert grown_mb < 100, f"the server's peak memory grew by {grown_mb:.0f} MB"

        # a bogus body of the same size is refused whole, and leaves nothing behind
        wrong = "0" * 64
        reply = client.put(
            f"/api/uploads/{wrong}",
            params={"offset": 0, "total": BIG},
            content=_blocks(BIG),
            headers={"Content-Length": str(BIG)},
        )
        assert reply.status_code == 422 and "corrupted" in reply.json()["error"]["message"]
        assert (_peak_kb(pid) - before) / 1024 < 100
        partial = tmp_path / "served" / "blobs" / "partial"
        assert [p.name for p in partial.iterdir()] == []

        # the legitimate path still works: the blob reads back whole
        hasher = hashlib.sha256()
        with client.stream("GET", f"/api/blobs/{digest}") as got:
            assert got.status_code == 200
            for piece in got.iter_bytes():
                hasher.update(piece)
        assert hasher.hexdigest() == digest
        client.close()


def test_uploads_over_the_cap_are_refused_with_413(db_url: str, tmp_path: Path) -> None:
    settings = farm_settings(db_url, tmp_path, max_blob_bytes=4 * MB)
    with running_server(settings) as live:
        alice = live.client(live.user_key)
        partial = live.data_dir / "blobs" / "partial"

        # a declared size over the farm's cap: refused before a byte is stored
        reply = alice.put(
            f"/api/uploads/{'a' * 64}", params={"offset": 0, "total": BIG}, content=b"x" * MB
        )
        assert reply.status_code == 413
        assert "max_blob_bytes" in reply.json()["error"]["message"]

        # a body longer than it declared, of unknown length (chunked): cut off while streaming
        data = b"y" * (3 * MB)
        digest = hashlib.sha256(data).hexdigest()
        reply = alice.put(
            f"/api/uploads/{digest}",
            params={"offset": 0, "total": MB},
            content=iter([data[i : i + 65536] for i in range(0, len(data), 65536)]),
        )
        assert reply.status_code == 413
        assert "longer than its declared size" in reply.json()["error"]["message"]
        # ... and by Content-Length, up front
        reply = alice.put(f"/api/uploads/{digest}", params={"offset": 0, "total": MB}, content=data)
        assert reply.status_code == 413
        assert list(partial.iterdir()) == []

        # the legitimate path still works, and the stored blob is private to the server
        reply = alice.put(
            f"/api/uploads/{digest}", params={"offset": 0, "total": len(data)}, content=data
        )
        assert reply.status_code == 200 and reply.json()["complete"], reply.text
        stored = live.farm.store.path(digest)
        assert stored.stat().st_mode & 0o777 == FILE_MODE
        assert alice.get(f"/api/blobs/{digest}").content == data


def test_json_bodies_over_the_cap_are_refused_with_413(db_url: str, tmp_path: Path) -> None:
    settings = farm_settings(db_url, tmp_path, max_json_bytes=64 * 1024, max_manifest_bytes=1 * MB)
    with running_server(settings) as live:
        alice = live.client(live.user_key)
        huge = json.dumps({"project_name": "p", "remark": "z" * (200 * 1024)}).encode()
        headers = {"Content-Type": "application/json"}
        # with its length declared ...
        reply = alice.post("/api/projects", content=huge, headers=headers)
        assert reply.status_code == 413
        assert "larger than 65536 bytes" in reply.json()["error"]["message"]
        # ... and streamed without one
        pieces = iter([huge[i : i + 8192] for i in range(0, len(huge), 8192)])
        reply = alice.post("/api/projects", content=pieces, headers=headers)
        assert reply.status_code == 413
        # ... also when its end comes in the very message that passes the cap (there is then
        # nothing left to drop before the refusal: it once waited for more until the timeout)
        for kib in (70, 90, 100, 120):
            body = json.dumps({"project_name": "p", "remark": "z" * (kib * 1024)}).encode()
            pieces = iter([body[i : i + 8192] for i in range(0, len(body), 8192)])
            reply = alice.post("/api/projects", content=pieces, headers=headers, timeout=10)
            assert reply.status_code == 413, kib
        # the vendor endpoint and the login form have the cap too (the vendor's: HTTP 200, the
        # 413 in the envelope's head, as its clients read no other status)
        vendor = httpx.post(f"{live.url}/api/v1/task", content=huge, headers=headers)
        assert vendor.status_code == 200 and vendor.json()["head"]["error_code"] == "413"
        assert httpx.post(f"{live.url}/login", data={"account": "x" * 100_000}).status_code == 413

        # a manifest may be bigger than other JSON, up to its own cap
        entries = [
            {"path": f"/v/m/{i:06d}.txt", "size": 1, "hash": f"{i:064x}"} for i in range(2000)
        ]
        manifest = json.dumps({"files": entries}).encode()
        assert 64 * 1024 < len(manifest) < MB
        reply = alice.post("/api/files/check", content=manifest, headers=headers)
        assert reply.status_code == 200, reply.text
        assert len(reply.json()["missing"]) == 2000
        over = json.dumps({"files": entries * 10}).encode()
        assert alice.post("/api/files/check", content=over, headers=headers).status_code == 413

        # the legitimate path still works
        assert upload(alice, "/v/ok.txt", b"fine")


def test_error_messages_quote_little_of_what_they_refuse(db_url: str, tmp_path: Path) -> None:
    with running_server(farm_settings(db_url, tmp_path)) as live:
        alice = live.client(live.user_key)
        bogus = "g" * MB
        cases = [
            alice.post("/api/blobs/batch", json={"hashes": [bogus]}),
            alice.get(f"/api/uploads/{'g' * 8000}"),
            alice.get(f"/api/blobs/{'g' * 8000}"),
            alice.post(
                "/api/files/check", json={"files": [{"path": bogus, "size": 1, "hash": bogus}]}
            ),
            alice.post("/api/files/check", json={"files": [{bogus: 1}]}),
            alice.post(
                "/api/uploads/batch",
                content=json.dumps({"blobs": [{"hash": bogus, "size": 1}]}).encode() + b"\nx",
            ),
            httpx.post(
                f"{live.url}/api/v1/task",
                json={
                    "head": {"access_key": live.user_key, "action": bogus},
                    "body": {},
                },
            ),
        ]
        for reply in cases:
            if reply.request.url.path == "/api/v1/task":  # HTTP 200, the error in its head
                assert reply.status_code == 200 and reply.json()["head"]["result"] == "1"
            else:
                assert 400 <= reply.status_code < 500, reply.text[:300]
            assert len(reply.text) < 1500, f"{reply.request.url.path[:40]}: {len(reply.text)}"
            assert "g" * 200 not in reply.text
        # the legitimate path still works
        digest = upload(alice, "/v/fine.txt", b"fine")
        assert alice.post("/api/blobs/batch", json={"hashes": [digest]}).content == b"fine"


def test_an_upload_of_a_stored_blob_does_the_same_work(db_url: str, tmp_path: Path) -> None:
    with running_server(farm_settings(db_url, tmp_path)) as live:
        alice = live.client(live.user_key)
        bob = live.client(live.new_account("bob"))
        data = b"a file both have" * 1000
        digest = upload(alice, "/v/a.bin", data)
        stored = live.farm.store.path(digest)
        first = stored.stat().st_ino

        # bob's upload of bytes the farm already has is received, hashed and stored again ...
        reply = bob.put(
            f"/api/uploads/{digest}", params={"offset": 0, "total": len(data)}, content=data
        )
        assert reply.status_code == 200 and reply.json()["complete"]
        assert stored.stat().st_ino != first  # a new file renamed into place, as for a new blob
        # ... so a wrong body for a stored hash is refused just as for an unknown one
        for target in (digest, hashlib.sha256(b"nobody has this").hexdigest()):
            reply = bob.put(
                f"/api/uploads/{target}",
                params={"offset": 0, "total": len(data)},
                content=b"x" * len(data),
            )
            assert reply.status_code == 422, reply.text
        assert bob.get(f"/api/blobs/{digest}").content == data
        assert alice.get(f"/api/blobs/{digest}").content == data
