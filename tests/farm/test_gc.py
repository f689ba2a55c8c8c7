"""Blob collection: what nothing uses goes, what anything uses (or may soon use) stays."""

from __future__ import annotations

import hashlib

from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, submit, upload


def test_collect_removes_only_unused_blobs(live_server: LiveServer) -> None:
    register_worker(live_server.url, live_server.farm.join_key)
    user = live_server.client(live_server.user_key)
    make_project(user)
    kept = upload(user, "/v/p/scene.txt", b"scene in use")
    replaced = upload(user, "/v/p/old.txt", b"first version")
    upload(user, "/v/p/old.txt", b"second version")  # the first version is now unused
    gone = upload(user, "/v/p/deleted.txt", b"deleted file")
    user.delete("/api/files", params={"path": "/v/p/deleted.txt"}).raise_for_status()
    task = submit(user, project_name="proj", input_scene_path="/v/p/scene.txt", frames="1")
    store = live_server.farm.store
    assert store.exists(replaced) and store.exists(gone)

    from foxden.farm.gc import collect

    fresh = collect(live_server.farm.db, store)  # default grace: nothing is old enough
    assert fresh.blobs == 0 and store.exists(gone)
    dry = collect(live_server.farm.db, store, grace=0, dry_run=True)
    assert dry.blobs == 2 and store.exists(gone)
    done = collect(live_server.farm.db, store, grace=0)
    assert done.blobs == 2 and done.bytes == len(b"first version") + len(b"deleted file")
    assert not store.exists(replaced) and not store.exists(gone) and store.exists(kept)
    assert user.get(f"/api/blobs/{gone}").status_code == 404
    # what is still used still works: the file tree and the task's inputs
    assert user.get(f"/api/blobs/{kept}").content == b"scene in use"
    worker = register_worker(live_server.url, live_server.farm.join_key, name="w2")
    lease = worker.post("/api/worker/claim", json={}).json()
    assert lease["task"]["id"] == task["id"]
    assert worker.get(f"/api/worker/blobs/{kept}").content == b"scene in use"
    # an account that loses a blob to collection simply uploads it again
    again = hashlib.sha256(b"deleted file").hexdigest()
    check = user.post(
        "/api/files/check", json={"files": [{"path": "/v/p/d.txt", "size": 12, "hash": again}]}
    )
    assert check.json()["missing"] == [again]
