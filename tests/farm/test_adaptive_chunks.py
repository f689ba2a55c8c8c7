"""Adaptive chunks on a real database (SQLite and PostgreSQL): a task with a target chunk
duration gets chunks sized from its done frames' measured times."""

from __future__ import annotations

from typing import Any

import pytest

from foxden.errors import BadRequest
from foxden.farm import chunks, scheduler
from foxden.wire.worker import FrameResult
from tests.farm import test_scheduler
from tests.farm.test_scheduler import T0, Scene, claim

scene = test_scheduler.scene  # the fixture: a farm with a project and its scene


def finish(
    scene: Scene, worker: scheduler.WorkerInfo, lease: dict[str, Any], times: list[float | None]
) -> None:
    """Report the lease's frames done, each with its render time (None: the worker sent none)."""
    results = [
        FrameResult(frame=f, status="done", render_time=t)
        for f, t in zip(lease["frames"], times, strict=True)
    ]
    reply = scheduler.report(scene.farm.db, worker.id, lease["lease_id"], results, now=T0 + 8)
    assert reply["accepted"] == lease["frames"]


def test_one_frame_first_then_as_many_as_fit_the_measured_time(scene: Scene) -> None:
    tid = scene.submit("1-40", chunk_seconds=10, frame_order="in_order")
    assert scene.task(tid)["chunk_size"] == chunks.MAX_ADAPTIVE_CHUNK  # the cap, none given
    worker = scene.worker()
    first = claim(scene, worker)
    assert first["frames"] == [1]  # nothing is known yet
    assert claim(scene, worker)["frames"] == [2]  # still nothing done
    finish(scene, worker, first, [2.5])
    third = claim(scene, worker)
    assert third["frames"] == [3, 4, 5, 6]  # 10 s / 2.5 s
    finish(scene, worker, third, [5.0, 5.0, 5.0, 5.0])
    # the mean of the done frames: (2.5 + 4 * 5) / 5 = 4.5 s, so 2 frames fit 10 s
    assert claim(scene, worker)["frames"] == [7, 8]


def test_wall_time_counts_when_the_worker_sent_no_render_time(scene: Scene) -> None:
    tid = scene.submit("1-20", chunk_seconds=30, frame_order="in_order")
    worker = scene.worker()
    first = claim(scene, worker)  # claimed at T0, reported at T0 + 8
    finish(scene, worker, first, [None])
    assert scene.frames(tid, "render_time")[0] == 8.0
    assert claim(scene, worker)["frames"] == [2, 3, 4]  # 30 s / 8 s


def test_chunk_size_and_the_workers_max_frames_cap_the_chunk(scene: Scene) -> None:
    tid = scene.submit("1-50", chunk_seconds=100, chunk_size=3, frame_order="in_order")
    assert scene.task(tid)["chunk_size"] == 3
    worker = scene.worker()
    finish(scene, worker, claim(scene, worker), [1.0])
    assert claim(scene, worker)["frames"] == [2, 3, 4]  # 100 fit, 3 at most
    assert claim(scene, worker, max_frames=2)["frames"] == [5, 6]


def test_a_frame_longer_than_the_target_still_gives_one_frame(scene: Scene) -> None:
    scene.submit("1-5", chunk_seconds=5, frame_order="in_order")
    worker = scene.worker()
    finish(scene, worker, claim(scene, worker), [60.0])
    assert claim(scene, worker)["frames"] == [2]


def test_a_task_without_a_target_keeps_its_chunk_size(scene: Scene) -> None:
    scene.submit("1-10", chunk_size=4, frame_order="in_order")
    worker = scene.worker()
    finish(scene, worker, claim(scene, worker), [0.1, 0.1, 0.1, 0.1])
    assert claim(scene, worker)["frames"] == [5, 6, 7, 8]


@pytest.mark.parametrize("bad", [-1, "soon", True, 10**9])
def test_a_bad_target_is_refused_with_what_to_give(scene: Scene, bad: Any) -> None:
    with pytest.raises(BadRequest, match="chunk_seconds must be a number of seconds"):
        scene.submit("1-3", chunk_seconds=bad)


def test_fitting_stays_within_its_bounds() -> None:
    assert chunks.fitting(10, None, 100) == 1
    assert chunks.fitting(10, 3, 100) == 3
    assert chunks.fitting(10, 0.01, 100) == 100
    assert chunks.fitting(10, 0.0, 7) == 7
    assert chunks.fitting(1, 5, 100) == 1
    assert chunks.fitting(0.3, 0.1, 100) == 3  # no rounding down of 2.9999...
