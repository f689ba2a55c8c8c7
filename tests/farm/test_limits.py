"""Named limits against the real scheduler on SQLite and PostgreSQL: a claim never makes the
running frames of the tasks holding a limit exceed its maximum, also with 20 workers claiming
at once over HTTP."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from foxden.db.schema import frames
from foxden.errors import BadRequest, NotFound
from foxden.farm import limits
from tests.conftest import LiveServer
from tests.farm.policykit import PolicyFarm, policy_farm_fixture  # noqa: F401
from tests.farmkit import make_project, register_worker, submit, upload


def test_a_limit_caps_running_frames_and_the_chunk(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    db = farm.farm.db
    limits.set_limit(db, "arnold", 3)
    held = farm.submit("ann", "1-20", chunk_size=2, limits=["arnold"])
    free = farm.submit("ann", "1-20", priority=-10)
    worker = farm.worker()
    got = [farm.claim(worker) for _ in range(3)]
    assert [lease["task"]["id"] for lease in got if lease] == [held, held, free]
    assert [len(lease["frames"]) for lease in got if lease] == [2, 1, 1]  # room 1: one frame
    assert limits.get_limit(db, "arnold").running == 3
    farm.report(worker, got[0])  # two frames done: room for two again
    lease = farm.claim(worker)
    assert lease is not None and lease["task"]["id"] == held and len(lease["frames"]) == 2
    listed = limits.list_limits(db)
    assert [(item.name, item.max_running, item.running, item.tasks) for item in listed] == [
        ("arnold", 3, 3, 1)
    ]


def test_a_projects_limits_hold_its_tasks_and_zero_holds_them_all(
    policy_farm: PolicyFarm,
) -> None:
    farm = policy_farm
    db, ann = farm.farm.db, farm.account("ann")
    limits.set_limit(db, "license", 0)
    task = farm.submit("ann", "1-3")
    limits.set_project_limits(db, ann, "ann", "proj", ["license"])
    worker = farm.worker()
    assert farm.claim(worker) is None
    limits.set_limit(db, "license", 1)
    lease = farm.claim(worker)
    assert lease is not None and lease["task"]["id"] == task
    assert farm.claim(worker) is None
    limits.remove_limit(db, "license")  # gone: the project no longer takes it
    assert limits.project_limit_names(db, ann, "proj") == []
    assert farm.claim(worker) is not None


def test_limits_are_checked(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    db, ann = farm.farm.db, farm.account("ann")
    with pytest.raises(BadRequest, match="no limit named 'vray'"):
        farm.submit("ann", "1", limits=["vray"])
    for bad in ("", "a b", "x" * 65, "../x"):
        with pytest.raises(BadRequest, match="name"):
            limits.set_limit(db, bad, 1)
    for wrong in (-1, 2_000_000, 1.5, True):
        with pytest.raises(BadRequest, match="maximum"):
            limits.set_limit(db, "ok", wrong)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        limits.remove_limit(db, "nothing")
    with pytest.raises(BadRequest, match="no limit"):
        limits.set_project_limits(db, ann, "ann", "proj", ["nothing"])
    with pytest.raises(NotFound):
        limits.set_project_limits(db, ann, "ann", "other", [])


MAX = 4
CLAIMERS = 20


def _setup_contention(live: LiveServer) -> list[int]:
    """Two accounts' tasks take `arnold`: one by the task, one by its project."""
    admin = live.client(live.admin_key)
    assert admin.put("/api/limits/arnold", json={"max_running": MAX}).status_code == 200
    register_worker(live.url, live.farm.join_key, name="seed")
    ids = []
    for key in (live.user_key, live.admin_key):
        user = live.client(key)
        make_project(user, "proj")
        upload(user, "/v/p/scene.txt", b"x")
        fields = {"limits": ["arnold"]} if key == live.user_key else {}
        ids.append(
            submit(
                user,
                project_name="proj",
                input_scene_path="/v/p/scene.txt",
                frames="1-60",
                chunk_size=2,
                **fields,
            )["id"]
        )
    reply = admin.put("/api/projects/proj/limits", json={"limits": ["arnold"]})
    assert reply.status_code == 200 and reply.json()["limits"] == ["arnold"]
    return ids


def test_twenty_concurrent_claimers_never_exceed_a_limit(live_server: LiveServer) -> None:
    live = live_server
    task_ids = _setup_contention(live)
    workers = [register_worker(live.url, live.farm.join_key, name=f"w{i}") for i in range(CLAIMERS)]
    running = frames.c.status == "running"
    of_tasks = frames.c.task_id.in_(task_ids)
    seen: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def watch() -> None:  # the DB's count, as committed, again and again
        while not stop.is_set():
            with live.farm.db.read() as conn:
                seen.append(
                    conn.execute(
                        select(func.count()).select_from(frames).where(running & of_tasks)
                    ).scalar_one()
                )

    def work(client: Any) -> None:
        try:
            idle = 0
            while idle < 20:
                reply = client.post("/api/worker/claim", json={})
                if reply.status_code == 204:
                    idle += 1
                    time.sleep(0.02)
                    continue
                assert reply.status_code == 200, reply.text
                idle = 0
                lease = reply.json()
                time.sleep(0.01)  # hold the frames a while: the limit stays full
                results = [{"frame": f, "status": "done"} for f in lease["frames"]]
                done = client.post(
                    f"/api/worker/leases/{lease['lease_id']}/frames", json={"results": results}
                )
                assert done.status_code == 200, done.text
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    stop.set()
    watcher.join()
    assert not errors, errors[0]
    user, admin = live.client(live.user_key), live.client(live.admin_key)
    for client, task_id in zip((user, admin), task_ids, strict=True):
        assert client.get(f"/api/tasks/{task_id}").json()["status"] == "done"
    assert seen and max(seen) <= MAX
    assert MAX in seen  # the limit was full: the claimers contended for it
