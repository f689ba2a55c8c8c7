"""Failure memory against the real scheduler on SQLite and PostgreSQL: a worker that keeps
failing a task is kept off it and its retries go to another worker; a worker failing across
tasks is flagged (and disabled when the setting says so)."""

from __future__ import annotations

from foxden.core.states import WorkerMode
from foxden.farm import workers
from foxden.farm.failure_memory import FailurePolicy
from tests.farm.policykit import PolicyFarm, policy_farm_fixture  # noqa: F401


def _listed(farm: PolicyFarm, worker_id: int) -> dict[str, object]:
    return next(w.model_dump() for w in workers.list_workers(farm.farm.db) if w.id == worker_id)


def test_a_failing_worker_is_blocklisted_and_the_retry_lands_elsewhere(
    policy_farm: PolicyFarm,
) -> None:
    farm = policy_farm
    task = farm.submit("ann", "1-6", max_attempts=10, frame_order="in_order")
    bad, good = farm.worker("bad"), farm.worker("good")
    first = farm.claim(bad)
    assert first is not None and first["frames"] == [1]
    farm.report(bad, first, "failed")
    # the retry of frame 1 waits for another worker: the bad one is given frame 2
    again = farm.claim(bad)
    assert again is not None and again["frames"] == [2]
    retry = farm.claim(good)
    assert retry is not None and retry["frames"] == [1]
    farm.report(good, retry, "done")
    farm.report(bad, again, "failed")
    third = farm.claim(bad)
    assert third is not None and third["frames"] == [3]  # frame 2 is left to the good one
    farm.report(bad, third, "failed")
    # three frames of the task failed on it: it is no longer given the task at all
    assert farm.claim(bad) is None
    frames = {f["number"]: f for f in farm.task("ann", task)["frames_detail"]}
    assert frames[1]["status"] == "done" and frames[1]["worker_id"] == good.id
    following = [farm.claim(good) for _ in range(2)]
    assert sorted(lease["frames"][0] for lease in following if lease) == [2, 3]
    # another task is still given to it
    other = farm.submit("ann", "1")
    lease = farm.claim(bad)
    assert lease is not None and lease["task"]["id"] == other


def test_a_worker_takes_its_own_failed_frame_back_when_nothing_else_is_eligible(
    policy_farm: PolicyFarm,
) -> None:
    farm = policy_farm
    farm.submit("ann", "7", max_attempts=5)
    only = farm.worker("only")
    first = farm.claim(only)
    assert first is not None
    farm.report(only, first, "failed")
    second = farm.claim(only)
    assert second is not None and second["frames"] == [7]


def test_a_worker_failing_across_tasks_is_flagged_then_disabled_by_the_setting(
    policy_farm: PolicyFarm,
) -> None:
    farm = policy_farm
    policy = FailurePolicy(task_failures=1, flag_streak=3, disable_flagged=True)
    for _ in range(4):
        farm.submit("ann", "1-2", max_attempts=5)
    bad = farm.worker("bad")
    seen = []
    for n in range(3):
        lease = farm.claim(bad, policy)
        assert lease is not None
        seen.append(lease["task"]["id"])
        farm.report(bad, lease, "failed", policy)
        listed = _listed(farm, bad.id)
        assert listed["failure_streak"] == n + 1
        assert listed["flagged"] is (n == 2)
    assert len(set(seen)) == 3  # one failure each: kept off each task after it
    listed = _listed(farm, bad.id)
    assert listed["admin_state"] == WorkerMode.DISABLED.value
    assert farm.claim(bad, policy) is None
    # an administrator enables it again: the flag and the streak start again
    workers.set_admin_state(farm.farm.db, bad.id, WorkerMode.ACTIVE)
    listed = _listed(farm, bad.id)
    assert listed["flagged"] is False and listed["failure_streak"] == 0
    assert farm.claim(bad, policy) is not None


def test_a_frame_done_resets_the_streak_and_flagging_alone_does_not_disable(
    policy_farm: PolicyFarm,
) -> None:
    farm = policy_farm
    policy = FailurePolicy(task_failures=10, flag_streak=2, disable_flagged=False)
    farm.submit("ann", "1-10", max_attempts=5, frame_order="in_order")
    worker = farm.worker()
    for status, streak in (("failed", 1), ("done", 0), ("failed", 1), ("failed", 2)):
        lease = farm.claim(worker, policy)
        assert lease is not None
        farm.report(worker, lease, status, policy)
        assert _listed(farm, worker.id)["failure_streak"] == streak
    listed = _listed(farm, worker.id)
    assert listed["flagged"] is True and listed["admin_state"] == WorkerMode.ACTIVE.value
    assert farm.claim(worker, policy) is not None


def test_a_report_with_a_frame_done_counts_its_failures_but_ends_the_streak(
    policy_farm: PolicyFarm,
) -> None:
    from foxden.farm.scheduler import report
    from foxden.wire.worker import FrameResult

    farm = policy_farm
    policy = FailurePolicy(task_failures=2, flag_streak=1)
    farm.submit("ann", "1-6", chunk_size=2, max_attempts=5, frame_order="in_order")
    worker = farm.worker()
    for _ in range(2):
        lease = farm.claim(worker, policy)
        assert lease is not None
        first, second = lease["frames"]
        results = [
            FrameResult(frame=first, status="done"),
            FrameResult(frame=second, status="failed", error="crashed"),
        ]
        report(farm.farm.db, worker.id, lease["lease_id"], results, policy=policy)
        listed = _listed(farm, worker.id)
        assert listed["failure_streak"] == 0 and listed["flagged"] is False
    assert farm.claim(worker, policy) is None  # two of its frames failed: kept off the task
