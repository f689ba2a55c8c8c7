"""The scheduler's services on a real database, with the clock given: claim, heartbeat, report,
release and the reaper. The HTTP tests (tests/server/api/test_worker.py) keep the protocol."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from foxden.db.schema import workers
from foxden.errors import LeaseLost
from foxden.farm import files, projects, scheduler, tasks
from foxden.farm import workers as farm_workers
from foxden.farm.accounts import create_account
from foxden.farm.rights import set_trusted
from foxden.server.context import Farm
from foxden.wire.api import FileEntry, PluginConfigIn
from foxden.wire.worker import FrameResult, WorkerRegister
from tests.conftest import farm_settings

T0 = 1_000_000.0  # the clock the tests give; nothing here sleeps
LEASE = 30.0
HEARTBEAT = 10.0
COMMAND = [{"name": "command", "version": "1"}]


@dataclass
class Scene:
    """A farm with one trusted account, one project and its scene uploaded."""

    farm: Farm
    account_id: int

    def submit(self, frames: str, **fields: Any) -> int:
        request = {"project_name": "proj", "input_scene_path": "/v/p/scene.txt", "frames": frames}
        record = tasks.submit(
            self.farm.db,
            self.farm.store,
            self.account_id,
            {**request, **fields},
            default_chunk=1,
            default_attempts=3,
        )
        return record.id

    def worker(
        self,
        name: str = "w",
        software: list[dict[str, Any]] | None = None,
        tags: tuple[str, ...] = (),
    ) -> scheduler.WorkerInfo:
        info = {
            "name": name,
            "software": COMMAND if software is None else software,
            "tags": list(tags),
        }
        key = self.farm.join_key
        registered = WorkerRegister.model_validate(info)
        worker_id = farm_workers.register(self.farm.db, key, key, registered)["worker_id"]
        with self.farm.db.read() as conn:
            row = conn.execute(
                select(workers.c.software_keys, workers.c.tags).where(workers.c.id == worker_id)
            ).one()
        return scheduler.WorkerInfo(worker_id, tuple(row.software_keys), frozenset(row.tags))

    def task(self, task_id: int) -> dict[str, Any]:
        return tasks.get_task(self.farm.db, self.account_id, task_id, with_frames=True).model_dump()

    def frames(self, task_id: int, field: str) -> list[Any]:
        return [f[field] for f in self.task(task_id)["frames_detail"]]


@pytest.fixture
def scene(db_url: str, tmp_path: Path) -> Iterator[Scene]:
    farm = Farm.open(farm_settings(db_url, tmp_path))
    try:
        account_id = create_account(farm.db, "alice")[0].id
        set_trusted(farm.db, "alice", True)
        made = Scene(farm, account_id)
        made.worker("seed")  # the software on offer
        projects.create_project(
            farm.db, account_id, "proj", configs=[PluginConfigIn(cg_soft_name="command 1")]
        )
        digest = hashlib.sha256(b"x").hexdigest()
        farm.store.put_whole(b"x", digest)
        files.adopt_blob(farm.db, account_id, digest, 1)
        files.commit(farm.db, account_id, [FileEntry(path="/v/p/scene.txt", size=1, hash=digest)])
        yield made
    finally:
        farm.close()


def claim(scene: Scene, worker: scheduler.WorkerInfo, now: float = T0, **kw: Any) -> Any:
    return scheduler.claim(scene.farm.db, worker, LEASE, heartbeat_seconds=HEARTBEAT, now=now, **kw)


def test_claim_gives_the_lowest_waiting_frames_a_chunk_at_a_time(scene: Scene) -> None:
    tid = scene.submit("1-10", chunk_size=4, frame_order="in_order")
    worker = scene.worker()
    first = claim(scene, worker)
    assert first["frames"] == [1, 2, 3, 4] and first["task"]["id"] == tid
    assert first["lease_seconds"] == LEASE and first["heartbeat_seconds"] == HEARTBEAT
    assert [i["path"] for i in first["inputs"]] == ["/v/p/scene.txt"]
    assert claim(scene, worker)["frames"] == [5, 6, 7, 8]
    assert claim(scene, worker, max_frames=1)["frames"] == [9]
    record = scene.task(tid)
    assert record["status"] == "rendering" and record["counts"]["running"] == 9
    assert scene.frames(tid, "start_time")[:9] == [T0] * 9
    assert scene.frames(tid, "attempts") == [1] * 9 + [0]


def test_claim_follows_software_tags_and_priority(scene: Scene) -> None:
    low = scene.submit("1", priority=0)
    high = scene.submit("1", priority=10)
    tagged = scene.submit("1", priority=20, tags=["gpu"])
    assert claim(scene, scene.worker("maya", [{"name": "maya", "version": "2024"}])) is None
    assert claim(scene, scene.worker("none", [])) is None
    plain = scene.worker("plain")
    assert [claim(scene, plain)["task"]["id"] for _ in range(2)] == [high, low]
    assert claim(scene, plain) is None
    assert claim(scene, scene.worker("gpu", tags=("gpu",)))["task"]["id"] == tagged


def test_heartbeats_extend_the_lease_from_the_clock_and_record_progress(scene: Scene) -> None:
    tid = scene.submit("1-2", chunk_size=2)
    worker = scene.worker()
    lease = claim(scene, worker)["lease_id"]
    db = scene.farm.db
    beat = scheduler.heartbeat(
        db, worker.id, lease, LEASE, {1: 0.5, 2: 7.0}, {1: "line one\n"}, now=T0 + 20
    )
    assert beat == {"action": "continue", "lease_seconds": LEASE}
    assert scheduler.reap_expired(db, now=T0 + LEASE + 1) == 0  # extended to T0 + 50
    assert scene.frames(tid, "progress") == [0.5, 1.0]  # bounded to [0, 1]
    assert "line one" in tasks.frame_log(db, scene.account_id, tid, 1)
    assert scheduler.reap_expired(db, now=T0 + 20 + LEASE + 1) == 2
    with pytest.raises(LeaseLost):
        scheduler.heartbeat(db, worker.id, lease, LEASE, {}, {}, now=T0 + 60)


def test_an_expired_lease_goes_back_to_the_queue_and_its_report_is_refused(scene: Scene) -> None:
    tid = scene.submit("1-4", chunk_size=4, frame_order="in_order")
    lost, other = scene.worker("lost"), scene.worker("other")
    first = claim(scene, lost)
    assert claim(scene, other) is None
    db = scene.farm.db
    assert scheduler.reap_expired(db, now=T0 + LEASE) == 0  # expires only after the lease
    assert scheduler.reap_expired(db, now=T0 + LEASE + 0.01) == 4
    assert scene.task(tid)["counts"]["waiting"] == 4
    second = claim(scene, other, now=T0 + 40)
    assert second["frames"] == [1, 2, 3, 4]
    done = [FrameResult(frame=f, status="done") for f in second["frames"]]
    reply = scheduler.report(db, other.id, second["lease_id"], done, now=T0 + 45)
    assert reply["accepted"] == [1, 2, 3, 4]
    with pytest.raises(LeaseLost):
        scheduler.report(db, lost.id, first["lease_id"], [FrameResult(frame=1, status="failed")])
    assert scene.task(tid)["status"] == "done"
    assert scene.frames(tid, "attempts") == [2, 2, 2, 2]
    assert scene.frames(tid, "render_time") == [5.0] * 4  # from the claim to the report


def test_expiry_spends_attempts_until_the_frame_fails(scene: Scene) -> None:
    tid = scene.submit("7", max_attempts=2)
    worker = scene.worker()
    for attempt in range(2):
        start = T0 + attempt * 100
        assert claim(scene, worker, now=start)["frames"] == [7]
        assert scheduler.reap_expired(scene.farm.db, now=start + LEASE + 1) == 1
    assert claim(scene, worker, now=T0 + 300) is None
    frame = scene.task(tid)["frames_detail"][0]
    assert frame["status"] == "failed" and frame["attempts"] == 2
    assert "lease expired" in frame["error"]
    assert scene.task(tid)["status"] == "failed"


def test_report_records_done_and_failed_frames_and_rejects_others(scene: Scene) -> None:
    tid = scene.submit("1-3", chunk_size=3, max_attempts=2)
    worker = scene.worker()
    lease = claim(scene, worker)["lease_id"]
    results = [
        FrameResult(frame=1, status="done", render_time=3.5),
        FrameResult(frame=2, status="done"),
        FrameResult(frame=3, status="failed", error="crash", log="the log"),
        FrameResult(frame=9, status="done"),
    ]
    reply = scheduler.report(scene.farm.db, worker.id, lease, results, now=T0 + 12)
    assert reply["accepted"] == [1, 2, 3]
    assert [r["frame"] for r in reply["rejected"]] == [9]
    assert scene.frames(tid, "status") == ["done", "done", "waiting"]  # 3 is retried
    assert scene.frames(tid, "render_time")[:2] == [3.5, 12.0]
    assert scene.frames(tid, "error")[2] == "crash"
    assert "the log" in tasks.frame_log(scene.farm.db, scene.account_id, tid, 3)
    again = claim(scene, worker, now=T0 + 20)
    assert again["frames"] == [3]
    scheduler.report(
        scene.farm.db,
        worker.id,
        again["lease_id"],
        [FrameResult(frame=3, status="failed", error="crash 2")],
        now=T0 + 21,
    )
    assert scene.frames(tid, "status")[2] == "failed"
    assert scene.task(tid)["status"] == "failed"


def test_release_gives_frames_back_without_spending_attempts(scene: Scene) -> None:
    tid = scene.submit("1-3", chunk_size=3)
    worker = scene.worker()
    claim(scene, worker)
    assert scheduler.release(scene.farm.db, worker.id) == 3
    record = scene.task(tid)
    assert record["status"] == "queued" and scene.frames(tid, "attempts") == [0, 0, 0]
    assert scheduler.reap_expired(scene.farm.db, now=T0 + 10 * LEASE) == 0
