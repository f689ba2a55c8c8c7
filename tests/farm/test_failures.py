"""Failed frames on a real database: a deterministic failure fails its frame at once, a
transient one is retried; frames carry their category and advice, tasks a summary."""

from __future__ import annotations

from sqlalchemy import update

from foxden.core.failures import advice
from foxden.core.states import TaskOp
from foxden.db.schema import frames
from foxden.farm import scheduler, tasks
from foxden.wire.worker import FrameResult
from tests.farm.test_scheduler import T0, Scene, claim, scene

__all__ = ["scene"]  # the fixture, shared with the scheduler's tests

CAMERA = (
    "Blender exited with status 1: camera 'CamC' not found in scene 'Scene'; "
    "its cameras are: CamA, CamB"
)
CRASH = "Blender exited with signal 11 (SIGSEGV): Blender crashed"


def fail(scene: Scene, frames_and_errors: dict[int, str], now: float) -> None:
    worker = scene.worker(f"w{now}")
    lease = claim(scene, worker, now=now)
    assert sorted(lease["frames"]) == sorted(frames_and_errors)
    results = [FrameResult(frame=f, status="failed", error=e) for f, e in frames_and_errors.items()]
    scheduler.report(scene.farm.db, worker.id, lease["lease_id"], results, now=now + 1)


def test_a_deterministic_failure_fails_the_frame_at_once(scene: Scene) -> None:
    tid = scene.submit("1-4", chunk_size=2, max_attempts=3, frame_order="in_order")
    fail(scene, {1: CAMERA, 2: CRASH}, T0)
    record = scene.task(tid)
    one, two = record["frames_detail"][:2]
    assert (one["status"], one["attempts"]) == ("failed", 1)  # 2 attempts left, not used
    assert one["failure_category"] == "bad_camera_or_layer"
    assert one["advice"] == advice("bad_camera_or_layer") and "camera" in one["advice"]
    assert (two["status"], two["failure_category"]) == ("waiting", "renderer_crash")
    assert record["failure_summary"] == (
        "1 of 4 frames failed: camera 'CamC' not found in scene 'Scene'; "
        "its cameras are: CamA, CamB"
    )


def test_a_transient_failure_is_retried_until_its_attempts_are_spent(scene: Scene) -> None:
    tid = scene.submit("5", max_attempts=2)
    fail(scene, {5: CRASH}, T0)
    assert scene.frames(tid, "status") == ["waiting"]
    assert scene.task(tid)["failure_summary"] == ""  # no frame failed for good yet
    fail(scene, {5: CRASH}, T0 + 10)
    frame = scene.task(tid)["frames_detail"][0]
    assert (frame["status"], frame["attempts"]) == ("failed", 2)
    assert scene.task(tid)["failure_summary"] == (
        "1 of 1 frame failed: Blender exited with signal 11 (SIGSEGV): Blender crashed"
    )


def test_the_summary_groups_by_category_most_frequent_first(scene: Scene) -> None:
    tid = scene.submit("1-24", chunk_size=3, max_attempts=1, frame_order="in_order")
    script = "Blender exited with status 1: Python error while rendering frame 3: ValueError: x"
    fail(scene, {1: CAMERA, 2: CAMERA, 3: script}, T0)
    summary = scene.task(tid)["failure_summary"]
    assert summary == (
        "3 of 24 frames failed: 2 bad camera or layer: camera 'CamC' not found in scene "
        "'Scene'; its cameras are: CamA, CamB; 1 scene script error: Python error while "
        "rendering frame 3: ValueError: x"
    )
    record = tasks.list_tasks(scene.farm.db, scene.account_id, {}).items[0]
    assert record.failure_summary == summary  # on task lists too, kept on the task row


def test_restart_and_abort_keep_the_summary_true(scene: Scene) -> None:
    tid = scene.submit("1-2", chunk_size=2, max_attempts=3)
    fail(scene, {1: CAMERA, 2: CAMERA}, T0)
    assert scene.task(tid)["failure_summary"].startswith("2 of 2 frames failed: camera 'CamC'")
    tasks.operate(scene.farm.db, scene.account_id, tid, TaskOp.RESTART, numbers=[1])
    record = scene.task(tid)
    assert record["failure_summary"].startswith("1 of 2 frames failed: camera 'CamC'")
    first = record["frames_detail"][0]
    assert (first["error"], first["failure_category"], first["advice"]) == ("", "", "")
    tasks.operate(scene.farm.db, scene.account_id, tid, TaskOp.ABORT)
    assert scene.task(tid)["failure_summary"] == ""


def test_a_frame_failed_before_categories_is_classified_when_read(scene: Scene) -> None:
    tid = scene.submit("1", max_attempts=1)
    fail(scene, {1: "blender exited with status -11: Blender crashed (crash report x)"}, T0)
    with scene.farm.db.write() as conn:  # as an old server left it
        conn.execute(update(frames).values(failure_category=None))
    frame = scene.task(tid)["frames_detail"][0]
    assert frame["failure_category"] == "renderer_crash"
    assert frame["advice"] == advice("renderer_crash")


def test_an_older_workers_markers_are_left_out_of_the_log(scene: Scene) -> None:
    tid = scene.submit("1")
    worker = scene.worker()
    lease = claim(scene, worker)
    log = (
        "Read blend: /v/p/a.blend\nFOXDEN_LAYERS 1\nFOXDEN_FRAME_START 1\n"
        "FOXDEN_WARNING missing file v:/p/t.png\nFra:1 Mem:1M | Sample 1/4\n"
        "FOXDEN_FRAME_DONE 1 /w/out/a_0001.png\n"
    )
    result = FrameResult(frame=1, status="done", log=log)
    scheduler.report(scene.farm.db, worker.id, lease["lease_id"], [result], now=T0 + 1)
    shown = tasks.frame_log(scene.farm.db, scene.account_id, tid, 1)
    assert shown == (
        "===== attempt 1 =====\nRead blend: /v/p/a.blend\n"
        "foxden: warning: missing file v:/p/t.png\nFra:1 Mem:1M | Sample 1/4\n"
    )
