"""In-process cost of one report carrying its claim (no HTTP): what one frame costs the database.

A farm on a fresh SQLite file or PostgreSQL database, one task of F frames (chunk 1), W workers
each holding a lease; then the workers take turns reporting their frame done with the claim of
the next one in the same call, as the lean protocol's report does (`ReportIn.claim`). We print
the statements per report (counted by an SQLAlchemy `before_cursor_execute` listener over the
first 100 reports, BEGIN included, COMMIT not; on PostgreSQL the round trips they made too: a
statement sent alone is one, a pipelined batch of them one), then, for the other reports, run
without the listener: the mean wall time per report and the CPU time this process spent on it
(Python and SQLite; on PostgreSQL the database server's is not in it: steadier than the wall
time on a loaded machine); `--profile` adds cProfile's top functions.

    python bench/report_cost.py --db sqlite --workers 10 --frames 2000
    python bench/report_cost.py --db postgresql --profile
    PYTHONPATH=OLD/src python bench/report_cost.py   # an older checkout's src, side by side
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import os
import pstats
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event, select

from foxden.db import hot
from foxden.db.schema import workers
from foxden.farm import files, projects, scheduler, tasks
from foxden.farm import workers as farm_workers
from foxden.farm.accounts import create_account
from foxden.farm.rights import set_trusted
from foxden.server.config import Settings
from foxden.server.context import Farm
from foxden.wire.api import FileEntry, PluginConfigIn
from foxden.wire.worker import FrameResult, LeaseOut, WorkerRegister

COUNTED = 100  # reports whose statements are counted, before the timed ones
PG_ADMIN = os.environ.get("FOXDEN_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _farm(db: str, data: Path) -> tuple[Farm, str]:
    if db == "sqlite":
        return Farm.open(Settings(data_dir=data, database_url="")), ""
    name = f"foxden_cost_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    return Farm.open(Settings(data_dir=data, database_url=url)), name


def _worker(farm: Farm, name: str) -> scheduler.WorkerInfo:
    info = WorkerRegister.model_validate(
        {"name": name, "software": [{"name": "command", "version": "1"}]}
    )
    worker_id = farm_workers.register(farm.db, farm.join_key, farm.join_key, info)["worker_id"]
    with farm.db.read() as conn:
        row = conn.execute(
            select(workers.c.software_keys, workers.c.tags).where(workers.c.id == worker_id)
        ).one()
    return scheduler.WorkerInfo(worker_id, tuple(row.software_keys), frozenset(row.tags))


def _submit(farm: Farm, frames: int) -> int:
    account_id = create_account(farm.db, "bench")[0].id
    set_trusted(farm.db, "bench", True)
    projects.create_project(
        farm.db, account_id, "proj", configs=[PluginConfigIn(cg_soft_name="command 1")]
    )
    digest = hashlib.sha256(b"x").hexdigest()
    farm.store.put_whole(b"x", digest)
    files.adopt_blob(farm.db, account_id, digest, 1)
    files.commit(farm.db, account_id, [FileEntry(path="/v/p/scene.txt", size=1, hash=digest)])
    request = {
        "project_name": "proj",
        "input_scene_path": "/v/p/scene.txt",
        "frames": f"1-{frames}",
    }
    return tasks.submit(
        farm.db, farm.store, account_id, request, default_chunk=1, default_attempts=3
    ).id


def _report_and_claim(
    farm: Farm, worker: scheduler.WorkerInfo, lease_id: int, results: list[FrameResult]
) -> dict[str, Any]:
    """What the report route does with a report carrying `claim: {slots: 1}`; on a checkout
    from before `scheduler.report_and_claim` (PYTHONPATH=its src), the report, then the claim."""
    lease_seconds = farm.settings.lease_seconds
    joint = getattr(scheduler, "report_and_claim", None)
    if joint is not None:
        out: dict[str, Any] = joint(
            farm.db,
            worker,
            lease_id,
            results,
            lease_seconds=lease_seconds,
            heartbeat_seconds=1.0,
            payloads=farm.payloads,
        )
        return out
    reply: dict[str, Any] = dict(scheduler.report(farm.db, worker.id, lease_id, results))
    reply["leases"] = scheduler.claim_many(
        farm.db,
        worker,
        lease_seconds,
        heartbeat_seconds=1.0,
        payloads=farm.payloads,
        busy=True,
    )
    return reply


def run(db: str, n_workers: int, n_frames: int, profile: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        farm, pg_name = _farm(db, Path(tmp))
        try:
            return _measure(farm, n_workers, n_frames, profile)
        finally:
            farm.close()
            if pg_name:
                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


def _measure(farm: Farm, n_workers: int, n_frames: int, profile: bool) -> dict[str, Any]:
    crew = [_worker(farm, f"w{i}") for i in range(n_workers)]  # the software on offer first
    _submit(farm, n_frames)
    settings = farm.settings
    held: dict[int, LeaseOut] = {}
    for w in crew:
        got = scheduler.claim(
            farm.db, w, settings.lease_seconds, heartbeat_seconds=1.0, payloads=farm.payloads
        )
        assert got is not None
        held[w.id] = got
    statements: Counter[str] = Counter()
    trips = [0]  # PostgreSQL: statements sent alone, and pipelined batches (`hot.Batch`)

    def count(_c: Any, cur: Any, sql: str, *_a: Any) -> None:
        statements[" ".join(sql.split())[:90]] += 1
        pgconn = getattr(cur.connection, "pgconn", None)
        if pgconn is not None and pgconn.pipeline_status == psycopg.pq.PipelineStatus.OFF:
            trips[0] += 1

    batch = getattr(hot, "Batch", None)  # an older checkout has none
    sync = getattr(batch, "sync", None)

    def counted_sync(self: Any) -> None:
        if self.pipelined:
            trips[0] += 1
        sync(self)

    def turns(limit: int) -> int:
        """Reports, each worker in turn, until `limit` are made or the frames run low."""
        done = 0
        while held and done < limit:
            for w in crew:
                lease = held.get(w.id)
                if lease is None or done >= limit:
                    continue
                results = [
                    FrameResult(frame=f, status="done", render_time=0.01) for f in lease["frames"]
                ]
                out = _report_and_claim(farm, w, lease["lease_id"], results)
                done += 1
                after: list[LeaseOut] = out.get("leases") or []
                if after:
                    held[w.id] = after[0]
                else:
                    del held[w.id]
        return done

    # the first reports counted (and warming up: the driver prepares a statement at its 5th
    # run), the rest timed without the counting listener
    event.listen(farm.db.engine, "before_cursor_execute", count)
    if batch is not None:
        batch.sync = counted_sync
    counted = turns(COUNTED)
    if batch is not None:
        batch.sync = sync
    event.remove(farm.db.engine, "before_cursor_execute", count)
    prof = cProfile.Profile() if profile else None
    start, cpu = time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    reports = turns(n_frames - 2 * n_workers - counted)
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    if prof:
        prof.disable()
    total = sum(statements.values())
    per = {sql: n / counted for sql, n in statements.most_common()}
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(35)
    return {
        "reports": reports,
        "ms_per_report": 1000 * took / reports,
        "cpu_ms_per_report": 1000 * cpu / reports,
        "statements_per_report": total / counted,
        "round_trips_per_report": trips[0] / counted,
        "statements": per,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    out = run(args.db, args.workers, args.frames, args.profile)
    print(
        f"{args.db}: {out['reports']} reports, {out['ms_per_report']:.2f} ms each "
        f"({out['cpu_ms_per_report']:.2f} ms of this process's CPU), "
        f"{out['statements_per_report']:.2f} statements each"
        + (
            f" ({out['round_trips_per_report']:.2f} round trips, BEGIN and COMMIT besides)"
            if args.db == "postgresql"
            else ""
        )
    )
    for sql, n in out["statements"].items():
        print(f"  {n:5.2f}  {sql}")


if __name__ == "__main__":
    main()
