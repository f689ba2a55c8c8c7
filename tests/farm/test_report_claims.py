"""A report that carries its claim (`scheduler.report_and_claim`): one write transaction for
both, against the real scheduler on SQLite and PostgreSQL. Its statements are counted (they
are deterministic, unlike timings): a regression that adds a statement or a transaction to
the per-frame path fails here."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from psycopg import pq
from sqlalchemy import event, select

from foxden.db import hot
from foxden.db.engine import send_deferred
from foxden.db.schema import account_blobs, frames, leases, workers
from foxden.db.serial import DEFERRED
from foxden.errors import Unprocessable
from foxden.farm import limits, proofs, scheduler, tasks
from foxden.wire.worker import FrameResult, LeaseOut, OutputFile, ReportOut
from tests.farm.policykit import LEASE, T0, PolicyFarm, policy_farm_fixture  # noqa: F401

DONE = "done"


def _report(
    farm: PolicyFarm, worker: scheduler.WorkerInfo, lease: LeaseOut, slots: int = 1, **kw: Any
) -> ReportOut:
    results = kw.pop("results", None) or [
        FrameResult(frame=f, status=DONE, render_time=1.0) for f in lease["frames"]
    ]
    return scheduler.report_and_claim(
        farm.farm.db,
        worker,
        lease["lease_id"],
        results,
        lease_seconds=LEASE,
        heartbeat_seconds=10.0,
        slots=slots,
        payloads=farm.farm.payloads,
        now=T0 + 1,
        **kw,
    )


@contextmanager
def _counted(farm: PolicyFarm) -> Iterator[Counter[str]]:
    """The statements run meanwhile by their first words, the commits as 'COMMIT', and the
    round trips to PostgreSQL they made as 'TRIPS' (a statement outside a pipeline is one, a
    pipelined batch of them one: `foxden.db.hot.Batch`). A statement its transaction deferred
    (`foxden.db.serial.DEFERRED`) is counted as it goes, with the one it goes ahead of."""
    seen: Counter[str] = Counter()
    engine = farm.farm.db.engine
    sync = hot.Batch.sync

    def statement(conn: Any, cur: Any, sql: str, *_a: Any) -> None:
        for ahead in conn.info.get(DEFERRED) or ():  # sent ahead of it, in its round trip
            seen[" ".join(ahead.split()[:4])] += 1
        seen[" ".join(sql.split()[:4])] += 1
        pgconn = getattr(cur.connection, "pgconn", None)  # psycopg's; sqlite3 has none
        if pgconn is not None and pgconn.pipeline_status == pq.PipelineStatus.OFF:
            seen["TRIPS"] += 1

    def commit(_c: Any) -> None:
        seen["COMMIT"] += 1

    def counted_sync(batch: hot.Batch) -> None:
        if batch.pipelined:
            seen["TRIPS"] += 1
        sync(batch)

    deferring = event.contains(engine, "before_cursor_execute", send_deferred)
    if deferring:  # ours first, to see what it sends ahead
        event.remove(engine, "before_cursor_execute", send_deferred)
    event.listen(engine, "before_cursor_execute", statement)
    if deferring:
        event.listen(engine, "before_cursor_execute", send_deferred)
    event.listen(engine, "commit", commit)
    hot.Batch.sync = counted_sync  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        hot.Batch.sync = sync  # type: ignore[method-assign]
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)


def test_a_report_and_its_claim_are_one_transaction_of_few_statements(
    policy_farm: PolicyFarm,
) -> None:
    farm = policy_farm
    farm.submit("ann", "1-5", frame_order="in_order")
    worker = farm.worker()
    lease = farm.claim(worker, payloads=farm.farm.payloads)  # the task's payload cached
    assert lease is not None
    with _counted(farm) as seen:
        reply = _report(farm, worker, lease)
    assert reply["accepted"] == lease["frames"]
    (new,) = reply["leases"]
    assert new["frames"] == [lease["frames"][0] + 1]
    assert seen["COMMIT"] == 1
    total = sum(n for sql, n in seen.items() if sql not in ("COMMIT", "TRIPS"))
    if farm.farm.db.dialect == "postgresql":
        # SET LOCAL twice (no synchronous commit; the candidate query's generic plan); the
        # task locked once (the claim's task is the report's, held already); the frame pick,
        # the new lease, its frames and the task's counters one statement, behind a savepoint
        assert seen["SELECT id FROM tasks"] == 0  # lifecycle.lock_task: not asked again
        assert seen["WITH picked AS (SELECT"] == 1
        assert seen["SAVEPOINT foxden_guess"] == 1
        assert seen["SET LOCAL synchronous_commit TO"] == 1
        assert total == 13, seen
        # the report's reads and locks (the deferred SET LOCAL ahead of them); its writes with
        # the candidate query and the claim (BEGIN and COMMIT besides): two round trips, both
        # while the task's row is held
        assert seen["TRIPS"] == 2, seen
    else:
        assert seen["BEGIN IMMEDIATE"] == 1
        assert total == 13, seen


def _upload(farm: PolicyFarm, worker: scheduler.WorkerInfo, lease: LeaseOut, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    farm.farm.store.put_whole(data, digest)
    proofs.record_upload(farm.farm.db, worker.id, lease["lease_id"], digest, len(data))
    return digest


def test_a_report_files_its_outputs_with_its_writes(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    tid = farm.submit("ann", "1-3", frame_order="in_order")
    worker = farm.worker()
    lease = farm.claim(worker, payloads=farm.farm.payloads)
    assert lease is not None
    paths: dict[str, str] = {}
    for frame in (1, 2):  # the same name twice: the last report's file stays
        image = _upload(farm, worker, lease, f"frame {frame}".encode())
        thumb = _upload(farm, worker, lease, f"thumb {frame}".encode())
        out = [
            OutputFile(name="out.png", hash=image, size=7, thumbnail=thumb),
            OutputFile(name=f"copy_{frame}.png", hash=image, size=7),  # its blob named again
        ]
        results = [FrameResult(frame=lease["frames"][0], status=DONE, outputs=out)]
        with _counted(farm) as seen:
            reply = _report(farm, worker, lease, results=results)
        (lease,) = reply["leases"]
        paths[f"out.png {frame}"], paths[f"thumb {frame}"] = image, thumb
        if farm.farm.db.dialect == "postgresql":
            assert seen["TRIPS"] == 3, seen  # its proofs read; the rest as without outputs
    filed = {
        o.path.rsplit("/", 1)[1]: (o.hash, o.frame)
        for o in tasks.task_outputs(farm.farm.db, farm.accounts["ann"], tid)
    }
    assert filed == {
        "out.png": (paths["out.png 2"], 2),
        "copy_1.png": (paths["out.png 1"], 1),
        "copy_2.png": (paths["out.png 2"], 2),
    }
    with farm.farm.db.read() as conn:
        owned = set(
            conn.execute(
                select(account_blobs.c.hash).where(
                    account_blobs.c.account_id == farm.accounts["ann"]
                )
            ).scalars()
        )
    assert set(paths.values()) <= owned


def test_a_claim_guessed_for_the_reported_task_yields_to_a_better_candidate(
    policy_farm: PolicyFarm,
) -> None:
    farm = policy_farm
    ann = farm.submit("ann", "1-3", frame_order="in_order")
    worker, other = farm.worker(), farm.worker("other")
    lease = farm.claim(worker)
    assert farm.claim(other) is not None  # ann keeps a frame running: her load is 1
    assert lease is not None and lease["task"]["id"] == ann
    bob = farm.submit("bob", "1-3", frame_order="in_order")
    with _counted(farm) as seen:
        reply = _report(farm, worker, lease)
    (new,) = reply["leases"]
    assert (new["task"]["id"], new["frames"]) == (bob, [1])  # bob's share is idle
    counts = farm.task("ann", ann)["counts"]
    assert (counts["done"], counts["running"], counts["waiting"]) == (1, 1, 1)
    with farm.farm.db.read() as conn:
        third = conn.execute(
            select(frames.c.status, frames.c.attempts, leases.c.id)
            .outerjoin(leases, leases.c.id == frames.c.lease_id)
            .where((frames.c.task_id == ann) & (frames.c.number == 3))
        ).one()
    assert tuple(third) == ("waiting", 0, None)  # the guess left no trace
    if farm.farm.db.dialect == "postgresql":
        assert seen["ROLLBACK TO SAVEPOINT foxden_guess"] == 1


def test_a_guess_that_finds_only_frames_the_worker_failed_claims_them_after_all(
    policy_farm: PolicyFarm,
) -> None:
    farm = policy_farm
    farm.submit("ann", "1-3", frame_order="in_order")
    worker, other = farm.worker(), farm.worker("other")
    first = farm.claim(worker)
    assert first is not None and first["frames"] == [1]
    assert farm.claim(other) is not None  # frame 2
    farm.report(worker, first, status="failed")  # frame 1 waits again, failed on this worker
    lease = farm.claim(worker)
    assert lease is not None and lease["frames"] == [3]  # retries go to others first
    (new,) = _report(farm, worker, lease)["leases"]
    assert new["frames"] == [1]  # nothing else is left: it takes its own failure back


def test_a_report_with_a_failed_frame_reads_its_candidates_after_failure_memory(
    policy_farm: PolicyFarm,
) -> None:
    farm = policy_farm
    tid = farm.submit("ann", "1-4", frame_order="in_order")
    worker = farm.worker()
    lease = farm.claim(worker)
    assert lease is not None
    bad = [FrameResult(frame=lease["frames"][0], status="failed", error="Segmentation fault")]
    reply = _report(farm, worker, lease, results=bad)
    assert reply["accepted"] == lease["frames"]
    (new,) = reply["leases"]
    counts = farm.task("ann", tid)["counts"]
    assert (counts["running"], counts["waiting"]) == (1, 3)  # the failed frame waits again
    assert new["frames"] == [2]  # its retry goes to another worker first


def test_a_report_that_ends_a_task_claims_what_its_end_unblocks(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    first = farm.submit("ann", "1", frame_order="in_order")
    then = farm.submit("ann", "1-2", depends_on=[first])
    worker = farm.worker()
    lease = farm.claim(worker)
    assert lease is not None and lease["task"]["id"] == first
    reply = _report(farm, worker, lease)  # the task's status moves to done after the writes
    assert [x["task"]["id"] for x in reply["leases"]] == [then]
    assert farm.task("ann", first)["status"] == "done"


def test_a_report_with_a_frame_done_starts_the_failure_streak_again(
    policy_farm: PolicyFarm,
) -> None:
    farm = policy_farm
    farm.submit("ann", "1-4", frame_order="in_order")
    worker = farm.worker()
    for _ in range(2):
        lease = farm.claim(worker)
        assert lease is not None
        failed = [FrameResult(frame=f, status="failed", error="oops") for f in lease["frames"]]
        _report(farm, worker, lease, results=failed)
    assert _streak(farm, worker) == 2
    lease = farm.claim(worker)
    assert lease is not None
    _report(farm, worker, lease)
    assert _streak(farm, worker) == 0


def _streak(farm: PolicyFarm, worker: scheduler.WorkerInfo) -> int:
    with farm.farm.db.read() as conn:
        streak: int = conn.execute(
            select(workers.c.failure_streak).where(workers.c.id == worker.id)
        ).scalar_one()
    return streak


def test_the_claim_sees_the_room_the_report_freed_under_a_limit(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    limits.set_limit(farm.farm.db, "licence", 1)
    held = farm.submit("ann", "1-3", limits=["licence"], frame_order="in_order")
    worker = farm.worker()
    lease = farm.claim(worker)
    assert lease is not None and lease["task"]["id"] == held
    assert farm.claim(farm.worker("other")) is None  # the limit is full
    reply = _report(farm, worker, lease, slots=3)
    assert [x["frames"] for x in reply["leases"]] == [[2]]  # the freed room, and no more
    assert farm.task("ann", held)["counts"]["running"] == 1


def test_a_refused_report_claims_nothing(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    tid = farm.submit("ann", "1-4")
    worker = farm.worker()
    lease = farm.claim(worker)
    assert lease is not None
    stray = OutputFile(name="f.png", hash="a" * 64, size=3)  # never uploaded for this lease
    bad = [FrameResult(frame=lease["frames"][0], status=DONE, outputs=[stray])]
    with pytest.raises(Unprocessable):
        _report(farm, worker, lease, slots=2, results=bad)
    counts = farm.task("ann", tid)["counts"]
    assert (counts["running"], counts["waiting"], counts["done"]) == (1, 3, 0)
    with farm.farm.db.read() as conn:
        mine = conn.execute(select(leases.c.id).where(leases.c.worker_id == worker.id)).all()
    assert len(mine) == 1  # no lease was made


def test_no_work_left_makes_the_worker_idle(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    farm.submit("ann", "1")
    worker = farm.worker()
    lease = farm.claim(worker)
    assert lease is not None
    reply = _report(farm, worker, lease)
    assert reply["leases"] == []
    with farm.farm.db.read() as conn:
        row = conn.execute(
            select(workers.c.status, workers.c.last_seen).where(workers.c.id == worker.id)
        ).one()
    assert (row.status, row.last_seen) == ("idle", T0 + 1)


def test_the_worker_stays_busy_with_the_claimed_work(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    farm.submit("ann", "1-2")
    worker = farm.worker()
    lease = farm.claim(worker)
    assert lease is not None
    assert len(_report(farm, worker, lease)["leases"]) == 1
    with farm.farm.db.read() as conn:
        status = conn.execute(
            select(workers.c.status).where(workers.c.id == worker.id)
        ).scalar_one()
    assert status == "busy"
