"""A task's ETA and core-hours (`foxden.farm.estimates`): the rule on its own, then from frames
with known times on a real database (SQLite and PostgreSQL), as every task record carries them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from foxden import vendor_records
from foxden.core.states import TaskOp
from foxden.db.schema import frames
from foxden.farm import estimates, files, projects, scheduler, tasks
from foxden.farm import workers as farm_workers
from foxden.farm.accounts import create_account
from foxden.farm.estimates import Measure, core_seconds, estimate
from foxden.farm.rights import set_trusted
from foxden.server.context import Farm
from foxden.server.rayvision import records as sdk_records
from foxden.wire.api import FileEntry, PluginConfigIn
from foxden.wire.worker import FrameResult, WorkerRegister
from tests.conftest import farm_settings

T0 = 1_000_000.0
LEASE = 600.0


def _counts(**counts: int) -> dict[str, int]:
    full = {"waiting": 0, "running": 0, "done": 0, "failed": 0, "stopped": 0, "aborted": 0}
    return {**full, **counts}


def test_core_time_is_wall_time_times_cores_over_slots() -> None:
    assert core_seconds(10.0, cores=8, slots=2) == 40.0
    assert core_seconds(10.0, cores=None, slots=None) == 10.0  # a worker no longer known
    assert core_seconds(10.0, cores=4, slots=0) == 40.0
    assert core_seconds(-3.0, cores=4, slots=1) == 0.0


def test_eta_is_the_mean_frame_time_times_frames_left_over_claims_rendering() -> None:
    # 4 waiting + 2 running, of which 0.5 + 0.5 is rendered: 5 frames of 10 s, 2 side by side
    m = Measure(done=4, wall_seconds=40.0, core_seconds=160.0, running_claims=2, running_progress=1)
    got = estimate("rendering", _counts(done=4, running=2, waiting=4), 10, m)
    assert got.eta_seconds == 25.0
    assert got.core_hours == pytest.approx(400.0 / 3600)  # 40 core-s a frame, 10 frames


def test_estimates_are_unknown_before_a_frame_is_done_and_eta_while_nothing_renders() -> None:
    nothing = estimate("rendering", _counts(running=2, waiting=8), 10, Measure(running_claims=2))
    assert nothing == estimates.Estimate(None, None)
    idle = Measure(done=2, wall_seconds=20.0, core_seconds=20.0)
    queued = estimate("queued", _counts(done=2, waiting=8), 10, idle)
    assert queued.eta_seconds is None and queued.core_hours == pytest.approx(100 / 3600)
    stopped = Measure(done=2, wall_seconds=20.0, core_seconds=20.0, running_claims=1)
    got = estimate("stopped", _counts(done=2, stopped=8), 10, stopped)
    assert got.eta_seconds is None and got.core_hours is not None
    done = estimate("done", _counts(done=10), 10, Measure(10, 100.0, 300.0))
    assert done.eta_seconds is None and done.core_hours == pytest.approx(300 / 3600)


@dataclass
class Farmed:
    farm: Farm
    account_id: int

    def submit(self, request: dict[str, Any]) -> int:
        db, store = self.farm.db, self.farm.store
        return tasks.submit(
            db, store, self.account_id, request, default_chunk=1, default_attempts=3
        ).id

    def worker(self, name: str, cores: int, slots: int) -> scheduler.WorkerInfo:
        key = self.farm.join_key
        info = WorkerRegister.model_validate(
            {
                "name": name,
                "software": [{"name": "command", "version": "1"}],
                "cores": cores,
                "slots": slots,
            }
        )
        worker_id = farm_workers.register(self.farm.db, key, key, info)["worker_id"]
        return scheduler.WorkerInfo(worker_id, ("command", "command 1"), frozenset())

    def claim(self, worker: scheduler.WorkerInfo, now: float) -> tuple[int, list[int]]:
        got = scheduler.claim(self.farm.db, worker, LEASE, heartbeat_seconds=10, now=now)
        assert got is not None
        return int(got["lease_id"]), list(got["frames"])

    def finish(
        self,
        worker: scheduler.WorkerInfo,
        lease: int,
        task_id: int,
        ends: dict[int, float],
        renders: dict[int, float],
    ) -> None:
        """Report frames done with the render times the worker measured, then give them the
        end times the test chose."""
        done = [FrameResult(frame=n, status="done", render_time=renders[n]) for n in ends]
        scheduler.report(self.farm.db, worker.id, lease, done, now=max(ends.values()))
        with self.farm.db.write() as conn:
            for number, end in ends.items():
                conn.execute(
                    update(frames)
                    .where((frames.c.task_id == task_id) & (frames.c.number == number))
                    .values(end_time=end)
                )


@pytest.fixture
def farmed(db_url: str, tmp_path: Path) -> Iterator[Farmed]:
    farm = Farm.open(farm_settings(db_url, tmp_path))
    try:
        account_id = create_account(farm.db, "alice")[0].id
        set_trusted(farm.db, "alice", True)
        made = Farmed(farm, account_id)
        made.worker("seed", 1, 1)  # the software on offer
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


def test_estimates_of_frames_with_known_times(farmed: Farmed) -> None:
    db, account = farmed.farm.db, farmed.account_id
    request = {"project_name": "proj", "input_scene_path": "/v/p/scene.txt", "frames": "1-10"}
    tid = farmed.submit({**request, "chunk_size": 2})
    big = farmed.worker("big", cores=8, slots=2)  # a slot is 4 cores
    small = farmed.worker("small", cores=2, slots=1)  # 2 cores
    lease_a, claim_a = farmed.claim(big, T0)
    lease_b, claim_b = farmed.claim(small, T0)
    # big renders its 2 frames one after the other in 20 s (7 s and 11 s of it rendering);
    # small reports both at 30 s (14 s and 15 s rendering)
    a1, a2 = claim_a
    farmed.finish(big, lease_a, tid, {a1: T0 + 8, a2: T0 + 20}, {a1: 7.0, a2: 11.0})
    b1, b2 = claim_b
    farmed.finish(small, lease_b, tid, {b1: T0 + 30, b2: T0 + 30}, {b1: 14.0, b2: 15.0})
    lease_c, claim_c = farmed.claim(big, T0 + 20)
    scheduler.heartbeat(db, big.id, lease_c, LEASE, {n: 0.5 for n in claim_c}, {}, now=T0 + 25)

    record = tasks.get_task(db, account, tid)
    assert record.counts["done"] == 4 and record.counts["running"] == 2
    # 4 frames in 50 s of their claims' time: 12.5 s each; 4 waiting + 2 running half done = 5
    # frames left, 1 claim rendering them
    assert record.eta_seconds == pytest.approx(12.5 * 5)
    # core time (as usage records it): (7 + 11) s x 4 cores + (14 + 15) s x 2 cores = 130
    # core-s for 4 frames, 10 frames in all
    assert record.core_hours == pytest.approx(130 / 4 * 10 / 3600)
    listed = tasks.list_tasks(db, account, {}).items
    assert [(t.eta_seconds, t.core_hours) for t in listed] == [
        (record.eta_seconds, record.core_hours)
    ]
    # the vendor's records (Fox) and the SDK's carry them as they are
    vendor = vendor_records.task(record)
    assert (vendor["eta_seconds"], vendor["core_hours"]) == (record.eta_seconds, record.core_hours)
    sdk = sdk_records.task(record, account)
    assert (sdk["etaSeconds"], sdk["coreHours"]) == (record.eta_seconds, record.core_hours)
    # a frame with no render time recorded counts its share of its claim's time: 30 s / 2
    with db.write() as conn:
        conn.execute(update(frames).where(frames.c.number.in_(claim_b)).values(render_time=None))
    unmeasured = tasks.get_task(db, account, tid)
    assert unmeasured.core_hours == pytest.approx((18 * 4 + 30 * 2) / 4 * 10 / 3600)
    stopped = tasks.operate(db, account, tid, TaskOp.STOP)
    assert stopped.eta_seconds is None and stopped.core_hours == unmeasured.core_hours


def test_a_task_with_no_frame_done_has_no_estimates(farmed: Farmed) -> None:
    request = {"project_name": "proj", "input_scene_path": "/v/p/scene.txt", "frames": "1-3"}
    tid = farmed.submit(request)
    farmed.claim(farmed.worker("w", cores=4, slots=1), T0)
    record = tasks.get_task(farmed.farm.db, farmed.account_id, tid)
    assert record.counts["running"] == 1
    assert record.eta_seconds is None and record.core_hours is None
