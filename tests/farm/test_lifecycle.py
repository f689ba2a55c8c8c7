"""The status writer: the claim's fast path follows the state machine's CLAIM transition."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from foxden.core.states import Event, FrameStatus, allowed, target
from foxden.db.schema import frames, leases, tasks
from foxden.farm import lifecycle
from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, submit, upload


def test_claim_moves_what_the_state_machine_says() -> None:
    assert allowed(Event.CLAIM, lifecycle.CLAIM_FROM)
    assert lifecycle.CLAIM_TO is target(Event.CLAIM) is FrameStatus.RUNNING


def test_claim_frames_refuses_frames_that_are_not_waiting(live_server: LiveServer) -> None:
    worker = register_worker(live_server.url, live_server.farm.join_key)
    user = live_server.client(live_server.user_key)
    make_project(user)
    upload(user, "/v/p/scene.txt", b"scene")
    task = submit(user, project_name="proj", input_scene_path="/v/p/scene.txt", frames="1-3")
    lease = worker.post("/api/worker/claim", json={}).json()
    db = live_server.farm.db

    def state() -> tuple[list[tuple[int, str, int]], tuple[int, int]]:
        with db.read() as conn:
            rows = conn.execute(
                select(frames.c.id, frames.c.status, frames.c.attempts)
                .where(frames.c.task_id == task["id"])
                .order_by(frames.c.id)
            ).all()
            counts = conn.execute(
                select(tasks.c.n_waiting, tasks.c.n_running).where(tasks.c.id == task["id"])
            ).one()
        return [tuple(r) for r in rows], (counts.n_waiting, counts.n_running)

    before, counts = state()
    assert counts == (3 - len(lease["frames"]), len(lease["frames"]))
    with db.read() as conn:
        worker_id = conn.execute(
            select(leases.c.worker_id).where(leases.c.id == lease["lease_id"])
        ).scalar_one()
    everything = [frame_id for frame_id, _status, _attempts in before]
    with pytest.raises(AssertionError, match="not waiting"), db.write() as conn:
        lifecycle.claim_frames(
            conn, task["id"], everything, lease["lease_id"], worker_id, time.time()
        )
    assert state() == (before, counts)  # the transaction rolled back: nothing moved
    waiting = [frame_id for frame_id, status, _attempts in before if status == "waiting"]
    with db.write() as conn:
        lifecycle.claim_frames(conn, task["id"], waiting, lease["lease_id"], worker_id, time.time())
    after, counts = state()
    assert counts == (0, 3)
    assert all(status == "running" and attempts == 1 for _id, status, attempts in after)
