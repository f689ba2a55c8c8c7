"""Storage hygiene: private files, a full disk, a corrupted blob, `foxden fsck` (real HTTP)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from foxden.farm.rights import set_trusted
from foxden.retry import RetryPolicy
from foxden.worker.cache import MAX_DAMAGED, BlobCache, InputDamaged
from foxden.worker.protocol import WorkerClient
from tests.conftest import LiveServer, farm_settings, running_server
from tests.farmkit import make_project, register_worker, submit, upload

MB = 1 << 20


def _flip_byte(path: Path, *, keep_stat: bool = False) -> None:
    """Damage a stored blob in place (bit rot); `keep_stat` keeps its mtime as it was."""
    before = path.stat()
    os.chmod(path, 0o600)
    with path.open("r+b") as fh:
        first = fh.read(1)
        fh.seek(0)
        fh.write(bytes([first[0] ^ 0xFF]))
    if keep_stat:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def _put(client: httpx.Client, data: bytes, **kw: object) -> httpx.Response:
    digest = hashlib.sha256(data).hexdigest()
    return client.put(
        f"/api/uploads/{digest}",
        params={"offset": 0, "total": len(data)},
        content=data,
        **kw,  # type: ignore[arg-type]
    )


def test_the_data_dir_database_and_blobs_are_private(live_server: LiveServer) -> None:
    alice = live_server.client(live_server.user_key)
    digest = upload(alice, "/v/private.txt", b"only the server may read this")
    data = live_server.data_dir
    assert data.stat().st_mode & 0o777 == 0o700
    blob = live_server.farm.store.path(digest)
    assert blob.stat().st_mode & 0o777 == 0o600
    for folder in (blob.parent, blob.parent.parent, data / "blobs", data / "blobs" / "partial"):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    if live_server.farm.db.is_sqlite:
        db_file = Path(live_server.farm.db.engine.url.database or "")
        assert db_file.stat().st_mode & 0o777 == 0o600
        for extra in (Path(f"{db_file}-wal"), Path(f"{db_file}-shm")):
            if extra.exists():
                assert extra.stat().st_mode & 0o777 == 0o600, extra
    assert alice.get(f"/api/blobs/{digest}").content == b"only the server may read this"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (run as root): {done.stderr.decode()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _leftovers(data: Path) -> list[str]:
    partial = data / "blobs" / "partial"
    return [p.name for p in partial.iterdir()] if partial.exists() else []


def test_a_full_disk_answers_507_and_leaves_nothing(
    db_url: str, tmp_path: Path, small_disk: Path
) -> None:
    data = small_disk / "data"
    with running_server(farm_settings(db_url, tmp_path, data_dir=data)) as live:
        alice = live.client(live.user_key)
        big = os.urandom(10 * MB)  # more than the disk holds
        big_hash = hashlib.sha256(big).hexdigest()
        whole = _put(alice, big)  # one piece, its length declared
        chunked = alice.put(  # of unknown length: the resumable path
            f"/api/uploads/{big_hash}",
            params={"offset": 0, "total": len(big)},
            content=iter([big[i : i + MB] for i in range(0, len(big), MB)]),
        )
        for reply in (whole, chunked):
            assert reply.status_code == 507, reply.text
            assert "the farm's storage is full" in reply.json()["error"]["message"]
        assert _leftovers(data) == []
        assert not live.farm.store.exists(big_hash)

        # fill what is left, then try a small upload
        filler = small_disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 65536)
        except OSError:
            pass
        finally:
            os.close(fd)
        small = os.urandom(512 * 1024)
        reply = _put(alice, small)
        assert reply.status_code == 507, reply.text
        assert _leftovers(data) == []

        # the legitimate path works again once there is room
        filler.unlink()
        digest = upload(alice, "/v/fits.bin", small)
        assert alice.get(f"/api/blobs/{digest}").content == small
        assert _leftovers(data) == []


def test_a_corrupted_blob_is_refused_and_quarantined(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="foxden.store")
    alice = live_server.client(live_server.user_key)
    data = b"precious render input " * 4096
    digest = upload(alice, "/v/precious.bin", data)
    assert alice.get(f"/api/blobs/{digest}").content == data
    stored = live_server.farm.store.path(digest)

    _flip_byte(stored)
    for reply in (
        alice.get(f"/api/blobs/{digest}"),
        alice.post("/api/blobs/batch", json={"hashes": [digest]}),
        alice.get(f"/api/blobs/{digest}"),  # and after it was put aside
    ):
        assert reply.status_code == 410, reply.text
        assert reply.json()["error"]["code"] == "damaged"
        assert data[1:100] not in reply.content
    quarantined = live_server.farm.store.quarantine_dir / digest
    assert quarantined.exists() and not stored.exists()
    assert any(digest in r.getMessage() and "damaged" in r.getMessage() for r in caplog.records)

    # another account learns nothing about it
    bob = live_server.client(live_server.new_account("bob"))
    assert bob.get(f"/api/blobs/{digest}").status_code == 404

    # the legitimate path: uploading the file again heals the store
    assert _put(alice, data).status_code == 200
    assert alice.get(f"/api/blobs/{digest}").content == data


def _task_with_input(live: LiveServer, data: bytes) -> tuple[httpx.Client, dict[str, object], str]:
    set_trusted(live.farm.db, "alice", True)
    worker = register_worker(live.url, live.farm.join_key)
    alice = live.client(live.user_key)
    make_project(alice, "p", soft="command 1")
    digest = upload(alice, "/v/p/scene.txt", data)
    submit(alice, project_name="p", input_scene_path="/v/p/scene.txt", frames="1", max_attempts=1)
    lease = worker.post("/api/worker/claim", json={}).json()
    return worker, lease, digest


def test_a_damaged_input_makes_the_worker_give_up_with_its_name(live_server: LiveServer) -> None:
    worker, _lease, digest = _task_with_input(live_server, b"scene of the task " * 1000)
    assert worker.get(f"/api/worker/blobs/{digest}").status_code == 200
    _flip_byte(live_server.farm.store.path(digest))
    reply = worker.get(f"/api/worker/blobs/{digest}")
    assert reply.status_code == 404  # the worker fails the frames at once (InputMissing)
    assert "input /v/p/scene.txt is damaged on the farm" in reply.json()["error"]["message"]


def test_a_worker_stops_fetching_an_input_that_keeps_arriving_damaged(
    live_server: LiveServer, tmp_path: Path
) -> None:
    data = b"scene that rots after it was checked " * 1000
    worker, _lease, digest = _task_with_input(live_server, data)
    client = WorkerClient(
        live_server.url,
        threading.Event(),
        RetryPolicy(attempts=None, base_delay=0.01, max_delay=0.05),
    )
    client.token = worker.headers["Authorization"].split(" ", 1)[1]
    cache = BlobCache(tmp_path / "cache", 100 * MB)
    calls = []
    real = client.download

    def counted(d: str):  # type: ignore[no-untyped-def]
        calls.append(d)
        return real(d)

    client.download = counted  # type: ignore[method-assign]
    # verified once, then rotted without its mtime changing: served as it is, caught by the worker
    assert worker.get(f"/api/worker/blobs/{digest}").content == data
    _flip_byte(live_server.farm.store.path(digest), keep_stat=True)
    with pytest.raises(InputDamaged, match="damaged"):
        cache.get(digest, len(data), client)
    assert len(calls) == MAX_DAMAGED
    assert digest not in cache
    client.close()


def test_fsck_finds_and_quarantines_damage(live_server: LiveServer) -> None:
    alice = live_server.client(live_server.user_key)
    good = upload(alice, "/v/good.bin", b"good" * 1000)
    bad = upload(alice, "/v/bad.bin", b"bad" * 1000)
    fsck = [sys.executable, "-m", "foxden.cli", "fsck", "--data-dir", str(live_server.data_dir)]
    env = {**os.environ, "FOXDEN_DATABASE_URL": live_server.farm.db.url}

    clean = subprocess.run(fsck, capture_output=True, text=True, env=env)
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout)["checked"] == 2 and "checked 2/2 blobs" in clean.stderr

    _flip_byte(live_server.farm.store.path(bad))
    report_only = subprocess.run([*fsck, "--report-only"], capture_output=True, text=True, env=env)
    assert report_only.returncode == 1 and json.loads(report_only.stdout)["damaged"] == [bad]
    assert live_server.farm.store.exists(bad)

    found = subprocess.run(fsck, capture_output=True, text=True, env=env)
    assert found.returncode == 1
    assert json.loads(found.stdout)["damaged"] == [bad]
    assert bad in found.stderr  # the log line naming it
    assert (live_server.farm.store.quarantine_dir / bad).exists()
    assert not live_server.farm.store.exists(bad)
    assert alice.get(f"/api/blobs/{bad}").status_code == 410

    # the intact blob is untouched, and a second run finds nothing more
    assert alice.get(f"/api/blobs/{good}").content == b"good" * 1000
    assert subprocess.run(fsck, capture_output=True, text=True, env=env).returncode == 0
