"""Movie tasks against the real scheduler on SQLite and PostgreSQL: a movie asked for at submit
waits for the render task, then gets its frames (its outputs) as inputs, and its movie becomes
an output of the render task; "Make a movie" of a finished task encodes at once."""

from __future__ import annotations

import hashlib

import pytest

from foxden.core.states import TaskOp
from foxden.errors import BadRequest, Conflict, NotFound
from foxden.farm import movies, proofs, scheduler, task_policy, tasks
from foxden.farm import workers as farm_workers
from foxden.wire.worker import FrameResult, LeaseOut, OutputFile, WorkerRegister
from tests.farm.policykit import PolicyFarm, policy_farm_fixture  # noqa: F401

SOFTWARE = [{"name": "command", "version": "1"}, {"name": "ffmpeg", "version": "5.1.9"}]


def _worker(farm: PolicyFarm, software: list[dict[str, str]] = SOFTWARE) -> scheduler.WorkerInfo:
    key = farm.farm.join_key
    info = WorkerRegister.model_validate({"name": "enc", "software": software})
    worker_id = farm_workers.register(farm.farm.db, key, key, info)["worker_id"]
    keys = ("command", "command 1", "ffmpeg", "ffmpeg 5", "ffmpeg 5.1", "ffmpeg 5.1.9")
    return scheduler.WorkerInfo(worker_id, keys if len(software) > 1 else keys[:2], frozenset())


def _finish(
    farm: PolicyFarm, worker: scheduler.WorkerInfo, names: dict[int, list[str]] | None = None
) -> LeaseOut:
    """Claim a lease and report its frames done, each with the outputs `names` gives it (the
    bytes uploaded for the lease first, as a worker does)."""
    lease = farm.claim(worker)
    assert lease is not None
    results = []
    for frame in lease["frames"]:
        outs = []
        for name in (names or {}).get(frame, []):
            data = f"{lease['task']['id']}:{name}".encode()
            digest = hashlib.sha256(data).hexdigest()
            farm.farm.store.put_whole(data, digest)
            proofs.record_upload(farm.farm.db, worker.id, lease["lease_id"], digest, len(data))
            outs.append(OutputFile(name=name, hash=digest, size=len(data)))
        results.append(FrameResult(frame=frame, status="done", outputs=outs))
    scheduler.report(farm.farm.db, worker.id, lease["lease_id"], results)
    return lease


def _frames(numbers: list[int], extra: bool = False) -> dict[int, list[str]]:
    return {
        n: [f"scene_{n:04d}.png", *([f"scene_{n:04d}_notes.txt"] if extra else [])] for n in numbers
    }


def test_a_movie_waits_for_the_frames_and_becomes_their_output(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    ann = farm.account("ann")
    render = farm.submit("ann", "1-3", movie=True)
    movie_id = farm.task("ann", render)["options"]["movie"]["task_id"]
    movie = farm.task("ann", movie_id)
    assert (movie["job_type"], movie["cg_soft_name"], movie["status"]) == (
        "ffmpeg",
        "ffmpeg",
        "queued",
    )
    assert movie["frame_count"] == 1 and movie["options"]["movie"]["codec"] == "h264"
    assert movie["options"]["movie"]["fps"] == 24  # the scene says none
    policy = task_policy.task_policy(farm.farm.db, ann, movie_id)
    assert [d.id for d in policy.depends_on] == [render]

    worker = _worker(farm)
    for _ in range(3):  # the movie waits: only the render task's frames are claimed
        assert _finish(farm, worker, _frames([1, 2, 3], extra=True))["task"]["id"] == render
    lease = farm.claim(worker)
    assert lease is not None and lease["task"]["id"] == movie_id
    outs = {o.path: o.hash for o in tasks.task_outputs(farm.farm.db, ann, render)}
    folder = farm.task("ann", render)["output_folder"]
    assert sorted((i["path"], i["hash"]) for i in lease["inputs"]) == [
        (f"/frames/scene_{n:04d}.png", outs[f"{folder}/scene_{n:04d}.png"]) for n in (1, 2, 3)
    ]  # one image a frame: the notes are no frames
    spec = lease["task"]["options"]["movie"]
    assert (spec["pattern"], spec["start"], spec["count"], spec["name"]) == (
        "scene_%04d.png",
        1,
        3,
        "scene.mp4",
    )

    data = b"the movie"
    digest = hashlib.sha256(data).hexdigest()
    farm.farm.store.put_whole(data, digest)
    proofs.record_upload(farm.farm.db, worker.id, lease["lease_id"], digest, len(data))
    result = FrameResult(
        frame=1, status="done", outputs=[OutputFile(name="scene.mp4", hash=digest, size=9)]
    )
    scheduler.report(farm.farm.db, worker.id, lease["lease_id"], [result])
    assert farm.task("ann", movie_id)["status"] == "done"
    filed = [o for o in tasks.task_outputs(farm.farm.db, ann, render) if o.frame is None]
    assert [(o.path, o.hash) for o in filed] == [(f"{folder}/scene.mp4", digest)]


def test_a_worker_without_ffmpeg_gets_no_movie(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    render = farm.submit("ann", "1", movie="prores")
    plain = _worker(farm, SOFTWARE[:1])
    _finish(farm, plain, _frames([1]))
    assert farm.claim(plain) is None
    lease = farm.claim(_worker(farm))
    assert lease is not None and lease["task"]["options"]["movie"]["codec"] == "prores"
    assert lease["task"]["id"] == farm.task("ann", render)["options"]["movie"]["task_id"]


def test_make_a_movie_of_a_done_task_with_gaps(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    db, ann = farm.farm.db, farm.account("ann")
    render = farm.submit("ann", "1,3,5")
    worker = _worker(farm)
    for _ in range(3):
        _finish(farm, worker, _frames([1, 3, 5]))
    made = movies.make(db, farm.farm.store, ann, render, "h264", fps=25)
    movie = tasks.get_task(db, ann, made)
    assert movie.options["movie"]["fps"] == 25
    lease = farm.claim(worker)  # its frames at once: the task is done
    assert lease is not None and lease["task"]["id"] == movie.id
    outs = {o.frame: o.hash for o in tasks.task_outputs(db, ann, render)}
    inputs = {i["path"]: i["hash"] for i in lease["inputs"]}
    # every rendered frame once, numbered on: 1, 3, 5 -> 1, 2, 3
    assert inputs == {
        "/frames/scene_0001.png": outs[1],
        "/frames/scene_0002.png": outs[3],
        "/frames/scene_0003.png": outs[5],
    }


def test_make_a_movie_refusals_and_waits(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    db, store, ann = farm.farm.db, farm.farm.store, farm.account("ann")
    theirs = farm.submit("bob", "1")
    with pytest.raises(NotFound, match=f"no task {theirs} in your account"):
        movies.make(db, store, ann, theirs)
    aborted = farm.submit("ann", "1")
    tasks.operate(db, ann, aborted, TaskOp.ABORT)
    with pytest.raises(Conflict, match="nothing to make a movie of"):
        movies.make(db, store, ann, aborted)
    queued = farm.submit("ann", "1-2")
    with pytest.raises(BadRequest, match="h264, prores"):
        movies.make(db, store, ann, queued, "gif")
    with pytest.raises(BadRequest, match="fps"):
        movies.make(db, store, ann, queued, fps=1000)
    with pytest.raises(BadRequest, match="h264, prores"):
        farm.submit("ann", "1", movie="gif")
    waiting = tasks.get_task(db, ann, movies.make(db, store, ann, queued))
    assert waiting.status == "queued" and waiting.blocked_reason == ""
    with pytest.raises(BadRequest, match="is a movie already"):
        movies.make(db, store, ann, waiting.id)
    with db.read() as conn:
        assert movies.movies_of(conn, queued) == [waiting.id]


def test_a_movie_of_frames_without_images_fails_saying_why(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    render = farm.submit("ann", "1-2", movie=True)
    worker = _worker(farm)
    for _ in range(2):
        _finish(farm, worker)  # done, but no output file
    lease = farm.claim(worker)
    assert lease is not None and lease["inputs"] == []
    problem = lease["task"]["options"]["movie"]["problem"]
    assert problem.startswith(f"task {render} has no frames to make a movie of")


def test_the_longest_sequence_wins() -> None:
    items = [
        (1, "f/beauty_0001.png"),
        (1, "f/depth_0001.exr"),
        (2, "f/beauty_0002.png"),
        (1, "f/readme.txt"),
    ]
    assert movies.longest_sequence(items) == [(1, "f/beauty_0001.png"), (2, "f/beauty_0002.png")]
    assert movies.longest_sequence([(1, "f/readme.txt")]) == []


def test_a_failed_movie_runs_again_with_the_frames_rendered_again(
    policy_farm: PolicyFarm,
) -> None:
    farm = policy_farm
    db, ann = farm.farm.db, farm.account("ann")
    cache = farm.farm.payloads  # the server's cache of task payloads, as claims use it
    render = farm.submit("ann", "1", movie=True)
    movie_id = farm.task("ann", render)["options"]["movie"]["task_id"]
    worker = _worker(farm)
    _finish(farm, worker)  # the frame is done without an image
    lease = farm.claim(worker, payloads=cache)
    assert lease is not None and "problem" in lease["task"]["options"]["movie"]
    problem = lease["task"]["options"]["movie"]["problem"]  # what the worker says
    failed = FrameResult(frame=1, status="failed", error=problem)
    scheduler.report(db, worker.id, lease["lease_id"], [failed])
    assert farm.task("ann", movie_id)["status"] == "failed"  # missing input: not retried

    tasks.operate(db, ann, render, TaskOp.RESTART, restart="all")
    _finish(farm, worker, _frames([1]))
    tasks.operate(db, ann, movie_id, TaskOp.RESTART, restart="failed")
    lease = farm.claim(worker, payloads=cache)
    assert lease is not None and lease["task"]["id"] == movie_id
    assert [i["path"] for i in lease["inputs"]] == ["/frames/scene_0001.png"]
    assert "problem" not in lease["task"]["options"]["movie"]
