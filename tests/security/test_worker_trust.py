"""Workers prove what they report, and the farm's admin decides which workers it trusts.

Each test is the attack itself over real HTTP, on SQLite and on PostgreSQL: a rogue worker with
a rotated join key or a revoked token, a worker waiting for approval, a frame report naming a
blob the worker did not upload for its lease, NaN and huge numbers, a too-large upload, a
renderer that never stops printing. Each also checks that the legitimate path still works.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from foxden.cli import main
from foxden.farm import logs as frame_logs
from foxden.farm import workers
from foxden.farm.wakeups import IDLE_MEMO_SECONDS
from tests.conftest import LiveServer, farm_settings, running_server
from tests.farmkit import make_project, register_worker, submit, upload
from tests.web.webkit import form_token, login


def _task(live: LiveServer, frames: str = "1-2", chunk: int = 1) -> dict[str, Any]:
    """Alice's task of the command job type (a worker that offers it is seen first)."""
    seed = httpx.post(
        f"{live.url}/api/worker/register",
        json={"name": "seed", "software": [{"name": "command", "version": "1"}]},
        headers={"Authorization": f"Bearer {live.farm.join_key}"},
    ).json()
    if not seed["approved"]:
        workers.approve(live.farm.db, seed["worker_id"])
    alice = live.client(live.user_key)
    make_project(alice, "p")
    upload(alice, "/v/p/scene.txt", b"alice's scene")
    return submit(
        alice,
        project_name="p",
        input_scene_path="/v/p/scene.txt",
        frames=frames,
        chunk_size=chunk,
        max_attempts=3,
    )


def _counts(live: LiveServer, task_id: int) -> dict[str, int]:
    task = live.client(live.user_key).get(f"/api/tasks/{task_id}").json()
    counts: dict[str, int] = task["counts"]
    return counts


def _put(worker: httpx.Client, lease_id: int, data: bytes) -> httpx.Response:
    digest = hashlib.sha256(data).hexdigest()
    return worker.put(f"/api/worker/blobs/{digest}", params={"lease": lease_id}, content=data)


def _done(frame: int, data: bytes, size: int | None = None, **extra: Any) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    output = {"name": f"f_{frame}.png", "hash": digest, "size": len(data) if size is None else size}
    return {"frame": frame, "status": "done", "outputs": [{**output, **extra}]}


def _cli(capsys: pytest.CaptureFixture[str], live: LiveServer, *argv: str) -> str:
    code = main(
        [*argv, "--data-dir", str(live.data_dir), "--database-url", live.farm.settings.db_url]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_a_rotated_join_key_shuts_out_a_rogue_worker(
    live_server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    live = live_server
    stolen = live.farm.join_key
    rogue = register_worker(live.url, stolen, name="rogue")  # the key leaked: it joined
    assert rogue.post("/api/worker/claim", json={}).status_code == 204  # its token is cached
    new_key = _cli(capsys, live, "join-key", "--rotate").strip()
    assert new_key and new_key != stolen
    key_file = live.data_dir / "join_key"
    assert key_file.read_text().strip() == new_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # the running server takes the new key at once: the stolen one no longer joins
    reply = httpx.post(
        f"{live.url}/api/worker/register",
        json={"name": "rogue-2", "software": [{"name": "command", "version": "1"}]},
        headers={"Authorization": f"Bearer {stolen}"},
    )
    assert reply.status_code == 401
    assert "wrong join key" in reply.json()["error"]["message"]
    register_worker(live.url, new_key, name="good")  # the new key works
    # the rogue joined before the rotation: the admin finds it and revokes it
    listed = json.loads(_cli(capsys, live, "workers", "list"))
    rogue_id = next(w["id"] for w in listed if w["name"] == "rogue")
    assert json.loads(_cli(capsys, live, "workers", "revoke", str(rogue_id)))["status"] == "revoked"
    # the command wrote the database from this process, not the server's: the server's memo
    # of the rogue's empty claim may answer "no work" (never work) until it lapses, then 401
    began = time.monotonic()
    while (code := rogue.post("/api/worker/claim", json={}).status_code) == 204:
        assert time.monotonic() - began < IDLE_MEMO_SECONDS + 2, "still no 401"
        time.sleep(0.2)
    assert code == 401
    # and with the stolen key it cannot come back
    assert (
        httpx.post(
            f"{live.url}/api/worker/register",
            json={"name": "rogue-3"},
            headers={"Authorization": f"Bearer {stolen}"},
        ).status_code
        == 401
    )


def test_a_revoked_worker_gets_401_at_once_and_its_frames_wait_again(
    live_server: LiveServer,
) -> None:
    live = live_server
    task = _task(live, frames="1-2", chunk=2)
    worker = register_worker(live.url, live.farm.join_key, name="doomed")
    lease = worker.post("/api/worker/claim", json={}).json()  # its token is cached now
    assert lease["frames"] == [1, 2] and _counts(live, task["id"])["running"] == 2
    scene_hash = lease["inputs"][0]["hash"]
    assert worker.get(f"/api/worker/blobs/{scene_hash}").status_code == 200
    admin = live.client(live.admin_key)
    listed = admin.get("/api/workers").json()
    worker_id = next(w["id"] for w in listed if w["name"] == "doomed")
    # only admins manage workers
    alice = live.client(live.user_key)
    assert alice.post(f"/api/workers/{worker_id}/revoke").status_code == 403
    assert alice.get("/api/workers").status_code == 403
    revoked = admin.post(f"/api/workers/{worker_id}/revoke")
    assert revoked.status_code == 200 and revoked.json()["released"] == 2
    lid = lease["lease_id"]
    for method, path, kw in (
        ("POST", "/api/worker/claim", {"json": {}}),
        ("POST", f"/api/worker/leases/{lid}/heartbeat", {"json": {"progress": {"1": 0.5}}}),
        ("POST", f"/api/worker/leases/{lid}/frames", {"json": {"results": []}}),
        ("GET", f"/api/worker/blobs/{scene_hash}", {}),
        ("PUT", f"/api/worker/blobs/{hashlib.sha256(b'x').hexdigest()}?lease={lid}", {}),
    ):
        reply = worker.request(method, path, **kw)
        assert reply.status_code == 401, (method, path, reply.status_code, reply.text)
    # its frames wait again (no attempt spent) and another worker renders them
    assert _counts(live, task["id"]) == {**_counts(live, task["id"]), "waiting": 2, "running": 0}
    other = register_worker(live.url, live.farm.join_key, name="other")
    again = other.post("/api/worker/claim", json={}).json()
    assert again["frames"] == [1, 2]
    states = {w["name"]: w["status"] for w in admin.get("/api/workers").json()}
    assert states["doomed"] == "revoked"
    assert admin.post(f"/api/workers/{worker_id}/approve").status_code == 409
    assert admin.post("/api/workers/99999/revoke").status_code == 404


def test_in_approval_mode_a_new_worker_gets_no_work_until_approved(
    db_url: str, tmp_path: Path
) -> None:
    with running_server(farm_settings(db_url, tmp_path, approve_workers=True)) as live:
        task = _task(live, frames="1")
        reply = httpx.post(
            f"{live.url}/api/worker/register",
            json={"name": "new", "software": [{"name": "command", "version": "1"}]},
            headers={"Authorization": f"Bearer {live.farm.join_key}"},
        )
        assert reply.status_code == 201 and reply.json()["approved"] is False
        worker = httpx.Client(
            base_url=live.url, headers={"Authorization": f"Bearer {reply.json()['token']}"}
        )
        for _ in range(2):  # the worker keeps asking; it keeps being told why not
            refused = worker.post("/api/worker/claim", json={})
            assert refused.status_code == 403
            assert "approval" in refused.json()["error"]["message"]
        assert _counts(live, task["id"])["waiting"] == 1
        # the admin sees it waiting, on the API and on the workers page, and approves it there
        admin = live.client(live.admin_key)
        listed = next(w for w in admin.get("/api/workers").json() if w["name"] == "new")
        assert listed["approved"] is False and listed["sandboxed"] is True
        browser, _token = login(live.url, "admin", live.admin_key)
        page = browser.get("/workers")
        assert "waiting for approval" in page.text and "Approve" in page.text
        approved = browser.post(f"/workers/{listed['id']}/approve", data={"csrf_token": "forged"})
        assert approved.status_code == 403  # CSRF: a forged form does nothing
        assert worker.post("/api/worker/claim", json={}).status_code == 403
        approved = browser.post(
            f"/workers/{listed['id']}/approve", data={"csrf_token": form_token(page.text)}
        )
        assert approved.status_code == 200 and "approved" in approved.text
        lease = worker.post("/api/worker/claim", json={})
        assert lease.status_code == 200 and lease.json()["frames"] == [1]


def test_the_workers_page_shows_unsandboxed_workers_and_revokes(live_server: LiveServer) -> None:
    live = live_server
    reply = httpx.post(
        f"{live.url}/api/worker/register",
        json={"name": "bare", "sandboxed": False},
        headers={"Authorization": f"Bearer {live.farm.join_key}"},
    )
    assert reply.status_code == 201
    (listed,) = live.client(live.admin_key).get("/api/workers").json()
    assert listed["sandboxed"] is False and listed["approved"] is True
    browser, _token = login(live.url, "admin", live.admin_key)
    page = browser.get("/workers")
    assert "no sandbox" in page.text and "waiting for approval" not in page.text
    done = browser.post(
        f"/workers/{listed['id']}/revoke", data={"csrf_token": form_token(page.text)}
    )
    assert done.status_code == 200 and "revoked" in done.text
    token = reply.json()["token"]
    claim = httpx.post(
        f"{live.url}/api/worker/claim", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert claim.status_code == 401
    alice, _ = login(live.url, "alice", live.user_key)
    assert alice.get("/workers").status_code == 403


def test_a_report_may_name_only_blobs_uploaded_for_its_lease(live_server: LiveServer) -> None:
    live = live_server
    # bob rendered something alice must never get: the attack names its hash in a report
    bob = live.client(live.new_account("bob"))
    bobs_render = b"bob's secret render"
    foreign = upload(bob, "/b/render.png", bobs_render)
    alice = live.client(live.user_key)
    assert alice.get(f"/api/blobs/{foreign}").status_code == 404
    task = _task(live, frames="1-3", chunk=2)
    worker = register_worker(live.url, live.farm.join_key)
    first = worker.post("/api/worker/claim", json={}).json()
    second = worker.post("/api/worker/claim", json={}).json()
    l1, l2 = first["lease_id"], second["lease_id"]
    f1, f2 = first["frames"]
    mine = b"frame one, rendered for lease one"
    other_lease = b"rendered for lease two"
    assert _put(worker, l1, mine).status_code == 200
    assert _put(worker, l2, other_lease).status_code == 200
    # foreign to this worker: another account's blob, known to the store
    forged = [
        [_done(f1, bobs_render)],
        [_done(f1, other_lease)],  # uploaded, but for another lease
        [_done(f1, mine, size=len(mine) + 1)],  # uploaded for this lease, the size a lie
        [_done(f1, mine, thumbnail=foreign)],  # a foreign thumbnail
    ]
    for results in forged:
        reply = worker.post(f"/api/worker/leases/{l1}/frames", json={"results": results})
        assert reply.status_code == 422, reply.text
        assert f"frame {f1}" in reply.json()["error"]["message"]
    # nothing of a refused report applies: not even its honest frame
    honest_two = b"frame two, rendered for lease one"
    assert _put(worker, l1, honest_two).status_code == 200
    reply = worker.post(
        f"/api/worker/leases/{l1}/frames",
        json={"results": [_done(f2, honest_two), _done(f1, bobs_render)]},
    )
    assert reply.status_code == 422 and f"frame {f1}" in reply.json()["error"]["message"]
    assert _counts(live, task["id"])["done"] == 0 and _counts(live, task["id"])["running"] == 3
    assert alice.get(f"/api/blobs/{foreign}").status_code == 404  # still 404, as before
    assert alice.get(f"/api/blobs/{hashlib.sha256(honest_two).hexdigest()}").status_code == 404
    # uploads only for one's own live lease
    assert _put(worker, 99_999, b"x").status_code == 404
    stranger = register_worker(live.url, live.farm.join_key, name="stranger")
    assert _put(stranger, l1, b"x").status_code == 404
    no_lease = worker.put(f"/api/worker/blobs/{hashlib.sha256(b'x').hexdigest()}", content=b"x")
    assert no_lease.status_code == 422
    # the legitimate path: upload for the lease, report, the account downloads its output
    thumb = b"thumbnail of frame one"
    assert _put(worker, l1, thumb).status_code == 200
    honest = _done(f1, mine, thumbnail=hashlib.sha256(thumb).hexdigest())
    reply = worker.post(f"/api/worker/leases/{l1}/frames", json={"results": [honest]})
    assert reply.status_code == 200 and reply.json()["accepted"] == [f1]
    got = alice.get(f"/api/blobs/{hashlib.sha256(mine).hexdigest()}")
    assert got.status_code == 200 and got.content == mine
    assert alice.get(f"/api/blobs/{foreign}").status_code == 404
    # a lease that ended takes no more uploads
    last = worker.post(f"/api/worker/leases/{l1}/frames", json={"results": [_done(f2, honest_two)]})
    assert last.status_code == 200 and _counts(live, task["id"])["done"] == 2
    assert _put(worker, l1, b"late").status_code == 410


def test_nan_infinity_and_huge_numbers_are_refused_not_500(live_server: LiveServer) -> None:
    live = live_server
    _task(live, frames="1")
    worker = register_worker(live.url, live.farm.join_key)
    lease = worker.post("/api/worker/claim", json={}).json()
    lid = lease["lease_id"]
    raw = {"Content-Type": "application/json"}
    for path, body in (
        (f"/api/worker/leases/{lid}/heartbeat", '{"progress": {"1": NaN}}'),
        (f"/api/worker/leases/{lid}/heartbeat", '{"progress": {"1": Infinity}}'),
        (f"/api/worker/leases/{lid}/heartbeat", '{"logs": {"99999999999999999999": "x"}}'),
        (
            f"/api/worker/leases/{lid}/frames",
            '{"results": [{"frame": 1, "status": "done", "render_time": NaN}]}',
        ),
        (
            f"/api/worker/leases/{lid}/frames",
            '{"results": [{"frame": 1, "status": "done", "render_time": -Infinity}]}',
        ),
        (
            f"/api/worker/leases/{lid}/frames",
            '{"results": [{"frame": 99999999999999999999, "status": "failed"}]}',
        ),
        (
            f"/api/worker/leases/{lid}/frames",
            '{"results": [{"frame": 1, "status": "done", "outputs": [{"name": "a", "hash": "'
            + "0" * 64
            + '", "size": -1}]}]}',
        ),
        ("/api/worker/claim", '{"max_frames": 99999999999999999999}'),
        ("/api/worker/register", '{"name": "w", "cores": 99999999999999999999}'),
    ):
        reply = worker.post(path, content=body, headers=raw)
        assert 400 <= reply.status_code < 500, (path, body, reply.status_code, reply.text)
    alice = live.client(live.user_key)
    for body in (
        '{"project_name": "p", "input_scene_path": "/v/p/scene.txt", "frames": "1", "priority": NaN}',
        '{"project_name": "p", "input_scene_path": "/v/p/scene.txt", "frames": "1", "options": {"x": Infinity}}',
        '{"project_name": "p", "input_scene_path": "/v/p/scene.txt", "frames": "1", "priority": 99999999999999999999}',
    ):
        reply = alice.post("/api/tasks", content=body, headers=raw)
        assert 400 <= reply.status_code < 500, (body, reply.status_code, reply.text)
    entry = '{"files": [{"path": "/a", "size": %s, "hash": "%s", "mtime": %s}]}'
    for size, mtime in (("-1", "0"), ("99999999999999999999", "0"), ("1", "NaN")):
        reply = alice.post("/api/files/check", content=entry % (size, "0" * 64, mtime), headers=raw)
        assert 400 <= reply.status_code < 500, (size, mtime, reply.status_code, reply.text)
    # every route with a number in its path, walked with numbers no id can be
    admin = live.client(live.admin_key)
    routes = live.farm_app_routes()  # the web pages' too
    walked = 0
    for route in routes:
        names = [p.name for p in route.dependant.path_params if p.field_info.annotation is int]
        if not names:
            continue
        for big in (2**31, 2**63, 10**20):
            path = route.path_format
            for name in route.dependant.path_params:
                path = path.replace("{" + name.name + "}", str(big) if name.name in names else "p")
            client = worker if path.startswith("/api/worker/") else admin
            for method in route.methods:
                reply = client.request(method, path, json={})
                assert reply.status_code < 500, (method, path, reply.status_code, reply.text)
                walked += 1
    assert walked >= 20
    # the worker's lease still works after all that
    beat = worker.post(f"/api/worker/leases/{lid}/heartbeat", json={"progress": {"1": 0.5}})
    assert beat.status_code == 200 and beat.json()["action"] == "continue"


def test_a_too_large_worker_upload_gets_413_and_leaves_nothing(db_url: str, tmp_path: Path) -> None:
    settings = farm_settings(db_url, tmp_path, max_blob_bytes=64 * 1024)
    with running_server(settings) as live:
        task = _task(live, frames="1")
        worker = register_worker(live.url, live.farm.join_key)
        lease = worker.post("/api/worker/claim", json={}).json()
        lid = lease["lease_id"]
        big = os.urandom(1 << 20)
        digest = hashlib.sha256(big).hexdigest()
        url = f"/api/worker/blobs/{digest}"

        def streamed() -> Any:  # no Content-Length: the server must count as it reads
            for i in range(0, len(big), 16 * 1024):
                yield big[i : i + 16 * 1024]

        for content in (big, streamed()):
            reply = worker.put(url, params={"lease": lid}, content=content)
            assert reply.status_code == 413, reply.text
            assert "65536 bytes" in reply.json()["error"]["message"]
        blobs = settings.blob_dir
        assert not live.farm.store.exists(digest)
        assert [p for p in (blobs / "partial").iterdir()] == []
        assert not any(p.name == digest for p in blobs.rglob("*"))
        # a frame naming it is refused; a blob under the cap goes through
        refused = worker.post(f"/api/worker/leases/{lid}/frames", json={"results": [_done(1, big)]})
        assert refused.status_code == 422
        small = os.urandom(60 * 1024)
        assert _put(worker, lid, small).status_code == 200
        reply = worker.post(f"/api/worker/leases/{lid}/frames", json={"results": [_done(1, small)]})
        assert reply.status_code == 200
        got = live.client(live.user_key).get(f"/api/blobs/{hashlib.sha256(small).hexdigest()}")
        assert got.content == small
        assert _counts(live, task["id"])["done"] == 1


def test_frame_logs_are_bounded_keeping_head_and_tail(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = live_server
    monkeypatch.setattr(frame_logs, "HEAD_BYTES", 300_000)
    monkeypatch.setattr(frame_logs, "TAIL_BYTES", 200_000)
    task = _task(live, frames="1")
    worker = register_worker(live.url, live.farm.join_key)
    lid = worker.post("/api/worker/claim", json={}).json()["lease_id"]
    huge = "FIRST LINE\n" + "x" * (3 << 20) + "\nLAST OF BEAT ONE\n"
    beat = worker.post(f"/api/worker/leases/{lid}/heartbeat", json={"logs": {"1": huge}})
    assert beat.status_code == 200
    for i in range(5):
        line = f"beat {i}: " + "y" * 150_000 + "\n"
        worker.post(f"/api/worker/leases/{lid}/heartbeat", json={"logs": {"1": line}})
    report = {"frame": 1, "status": "failed", "error": "E" * 50_000 + " END", "log": "FINAL\n"}
    worker.post(f"/api/worker/leases/{lid}/frames", json={"results": [report]}).raise_for_status()
    text = live.client(live.user_key).get(f"/api/tasks/{task['id']}/frames/1/log").text
    assert text.startswith("===== attempt 1 =====\nFIRST LINE\n")  # the head is kept
    assert "beat 4" in text and "FINAL" in text  # and the tail
    assert "beat 0" not in text and "LAST OF BEAT ONE" not in text  # the middle is cut
    assert "bytes cut ...]" in text
    assert len(text.encode()) < 300_000 + 200_000 + 10_000
    assert len(text.split("===== error =====")[1]) < 4200 and text.rstrip().endswith("END")
    assert _counts(live, task["id"])["waiting"] == 1  # failed once, attempts left
