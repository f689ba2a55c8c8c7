"""A farm at scale for the benchmarks: 10,000 tasks and 1,000,000 frames, filled by a fast path.

`Farm` runs a real `foxden serve` process on a fresh SQLite file or a fresh PostgreSQL database
(its accounts made with `foxden account create`, which also runs the migrations); `fill()` fills
it before the server starts. bench/scale.py and bench/idle.py use both.

The fast path (documented here, used by nothing but the benchmarks): rows go straight into the
tables of `foxden.db.schema`, tasks and the rest through SQLAlchemy Core, frames with the
driver's bulk path (`executemany` on SQLite, `COPY` on PostgreSQL), all in one transaction,
keeping what `foxden.farm.tasks.submit` and the lifecycle keep:

- each task's `frame_count` is its number of frame rows and `n_<status>` counts its frames in
  each status; its status is `derive_task_status` of those counts; `start_time` is set once a
  frame ran, `completed_time` once the task is finished; `frames_spec` is the frames' spec;
  `output_folder` is `<id>_<scene stem>`; `failure_summary` is `summarize` of its failed frames;
- frames have `seq` from `frame_order.sequence` (the default order, as a submit gives); a done
  frame has one attempt, its worker, start, end and render time and progress 1; a failed one
  `max_attempts` attempts, an error and a category; a running frame has an active lease of a
  busy worker (expiring in a week, so the reaper leaves it) and is counted in `n_running`;
- ids are given explicitly and PostgreSQL's sequences are moved past them.

Done frames carry no outputs (no blobs are stored): output listings are not measured.

The farm (defaults; `fill(tasks=..., frames=..., big_task=...)` scales it down for tests):
account `bench` (trusted, the one the benchmarks query) holds `tasks` tasks in two projects,
among them one of `big_task` frames (rendering: half done, two running, the rest waiting);
accounts `other1` and `other2` hold `others` tasks each; all tasks together hold `frames` frames.
About 93 % of tasks are done, 2 % failed, 1 % stopped, 1 % aborted, 1.5 % queued and 1.5 %
rendering. Every waiting frame is of `blender 3.6`, which the benchmarks' simulated workers do
not have: their claims find nothing there (bench/idle.py) unless the benchmark submits work of
their software (a `command` task through the API: `submit_probe`).

    python bench/bigfarm.py --db sqlite       # fill one, check it through the API, print timings
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import create_engine, insert, text

from foxden import frames as frame_spec
from foxden.core.failures import summarize
from foxden.core.states import FrameStatus, TaskStatus, derive_task_status
from foxden.db import schema
from foxden.farm import frame_order

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("FOXDEN_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
MAIN = "bench"
OTHERS = ("other1", "other2")
BUSY_WORKERS = 20
SOFT = "blender 3.6"  # the filled work's software: the simulated workers never have it
FAIL_ERROR = "Blender exited with code 1"


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so a stopped benchmark still stops its servers."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Farm:
    """A `foxden serve` subprocess on a fresh database; accounts made (and trusted) first."""

    def __init__(self, db: str, accounts: tuple[str, ...] = (MAIN, *OTHERS)) -> None:
        self.db = db
        self.tmp = tempfile.TemporaryDirectory(prefix="foxden-bench-")
        self.data = Path(self.tmp.name)
        self.pg_name = ""
        if db == "postgresql":
            self.pg_name = f"foxden_bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.pg_name}"')
            self.db_url = PG_ADMIN.rsplit("/", 1)[0] + "/" + self.pg_name
            self.sa_url = self.db_url.replace("postgresql://", "postgresql+psycopg://", 1)
        else:
            self.db_url = ""
            self.sa_url = f"sqlite:///{self.data / 'foxden.db'}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.base = [sys.executable, "-m", "foxden.cli"]
        self.opts = ["--data-dir", str(self.data)] + (
            ["--database-url", self.db_url] if self.db_url else []
        )
        self.keys: dict[str, str] = {}
        for name in accounts:
            out = self._cli("account", "create", name)
            self.keys[name] = json.loads(out)["access_key"]
            self._cli("account", "trust", name)  # the probe tasks use the `command` job type
        self.proc: subprocess.Popen[bytes] | None = None
        self.join_key = ""

    def _cli(self, *args: str) -> str:
        out = subprocess.run(
            [*self.base, *args, *self.opts], capture_output=True, text=True, check=True
        )
        return out.stdout

    def start(self) -> None:
        """Start `foxden serve` and wait (at most 60 s) until it answers."""
        self.proc = subprocess.Popen(
            [*self.base, "serve", *self.opts, "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("foxden serve did not start")
            time.sleep(0.1)
        self.join_key = (self.data / "join_key").read_text().strip()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def user(self, name: str = MAIN, timeout: float = 120) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.keys[name]}"},
            timeout=timeout,
        )

    def close(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        if self.pg_name:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
        self.tmp.cleanup()

    def __enter__(self) -> Farm:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


@dataclass
class Filled:
    """What `fill` made: the big task's id, the main account's task ids per status, counts,
    seconds taken."""

    big_task: int
    tasks: int
    frames: int
    seconds: float
    by_status: dict[str, list[int]] = field(default_factory=dict)


def _mix(rng: random.Random) -> str:
    """A task's fate: mostly done."""
    x = rng.random()
    for status, upto in (
        ("done", 0.93),
        ("failed", 0.95),
        ("stopped", 0.96),
        ("aborted", 0.97),
        ("queued", 0.985),
    ):
        if x < upto:
            return status
    return "rendering"


def _statuses(fate: str, n: int) -> list[FrameStatus]:
    """The status of each of a task's `n` frames (in frame order) for its fate."""
    F = FrameStatus
    if fate == "done":
        return [F.DONE] * n
    if fate == "queued":
        return [F.WAITING] * n
    cut = max(1, n // 2) if n > 1 else 0
    if fate == "failed":
        bad = max(1, n // 10)
        return [F.DONE] * (n - bad) + [F.FAILED] * bad
    if fate == "stopped":
        return [F.DONE] * cut + [F.STOPPED] * (n - cut)
    if fate == "aborted":
        return [F.DONE] * cut + [F.ABORTED] * (n - cut)
    running = min(2, n - cut)
    return [F.DONE] * cut + [F.RUNNING] * running + [F.WAITING] * (n - cut - running)


def _sizes(count: int, total: int, rng: random.Random) -> list[int]:
    """`count` task sizes (at least 1 frame each) adding up to `total`, varied in pairs."""
    base, extra = divmod(total, count)
    sizes = [base + (1 if i < extra else 0) for i in range(count)]
    for i in range(0, count - 1, 2):
        d = rng.randint(0, max(0, min(sizes[i], sizes[i + 1]) - 1) * 2 // 3)
        sizes[i] += d
        sizes[i + 1] -= d
    return sizes


def fill(
    farm: Farm,
    *,
    tasks: int = 10_000,
    others: int = 250,
    frames: int = 1_000_000,
    big_task: int = 10_000,
    seed: int = 15,
) -> Filled:
    """Fill the (not yet started) farm by the fast path of the module docstring."""
    started = time.perf_counter()
    rng = random.Random(seed)
    engine = create_engine(farm.sa_url)
    now = time.time()
    total_tasks = tasks + others * len(OTHERS)
    try:
        with engine.begin() as conn:
            accounts = {
                r.name: r.id for r in conn.execute(text("SELECT id, name FROM accounts")).all()
            }
            projects: list[dict[str, Any]] = []
            homes: dict[str, list[dict[str, Any]]] = {}
            for name in (MAIN, *OTHERS):
                if name not in accounts:
                    continue
                for pname in ("shots", "assets") if name == MAIN else ("films",):
                    p = {
                        "id": len(projects) + 1,
                        "account_id": accounts[name],
                        "name": pname,
                        "path": "",
                        "remark": "",
                        "render_os": "linux",
                        "created_at": now - 40 * 86400,
                    }
                    projects.append(p)
                    homes.setdefault(name, []).append(p)
            conn.execute(insert(schema.projects), projects)
            conn.execute(
                insert(schema.plugin_configs),
                [
                    {
                        "id": p["id"],
                        "project_id": p["id"],
                        "cg_soft_name": SOFT,
                        "plugin_name": "",
                        "is_default": True,
                    }
                    for p in projects
                ],
            )
            conn.execute(
                insert(schema.workers),
                [
                    {
                        "id": w,
                        "name": f"busy{w}",
                        "token_hash": hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
                        "software": [{"name": "blender", "version": "3.6"}],
                        "software_keys": ["blender", "blender 3", "blender 3.6"],
                        "cores": 16,
                        "memory_mb": 65536,
                        "gpus": [],
                        "tags": [],
                        "slots": 1,
                        "status": "busy",
                        "registered_at": now - 40 * 86400,
                        "last_seen": now,
                    }
                    for w in range(1, BUSY_WORKERS + 1)
                ],
            )
            owners = [MAIN] * tasks + [o for o in OTHERS for _ in range(others)]
            sizes = _sizes(total_tasks - 1, frames - big_task, rng) if total_tasks > 1 else []
            sizes.insert(0, big_task)  # task 1 is the big one, in the main account
            task_rows: list[dict[str, Any]] = []
            lease_rows: list[dict[str, Any]] = []
            frame_rows: list[tuple[Any, ...]] = []
            by_status: dict[str, list[int]] = {}
            for index in range(total_tasks):
                task_id = index + 1
                owner = owners[index]
                project = homes[owner][index % len(homes[owner])]
                n = sizes[index]
                fate = "rendering" if index == 0 else _mix(rng)
                statuses = _statuses(fate, n)
                submit = now - 30 * 86400 + index * (30 * 86400 / total_tasks)
                lease_id = None
                if FrameStatus.RUNNING in statuses:
                    lease_id = len(lease_rows) + 1
                    lease_rows.append(
                        {
                            "id": lease_id,
                            "worker_id": 1 + len(lease_rows) % BUSY_WORKERS,
                            "task_id": task_id,
                            "state": "active",
                            "reason": "",
                            "created_at": now - 60,
                            "expires_at": now + 7 * 86400,
                        }
                    )
                numbers = list(range(1, n + 1))
                seq = frame_order.sequence(numbers, frame_order.DEFAULT_ORDER)
                counts = {s.value: 0 for s in FrameStatus}
                last_end = submit
                for number, status in zip(numbers, statuses, strict=True):
                    counts[status.value] += 1
                    worker = 1 + number % BUSY_WORKERS
                    start = submit + 60 + number * 30.0
                    row: tuple[Any, ...]
                    if status is FrameStatus.DONE:
                        row = (1, None, worker, 1.0, start, start + 28.0, 28.0, "", None)
                        last_end = max(last_end, start + 28.0)
                    elif status is FrameStatus.FAILED:
                        row = (3, None, worker, 0.0, start, start + 5.0, None, FAIL_ERROR,
                               "renderer_crash")  # fmt: skip
                    elif status is FrameStatus.RUNNING:
                        holder = lease_rows[-1]["worker_id"]
                        row = (1, lease_id, holder, 0.5, now - 60, None, None, "", None)
                    else:
                        row = (0, None, None, 0.0, None, None, None, "", None)
                    frame_rows.append((task_id, number, status.value, *row, seq[number]))
                derived = derive_task_status(counts)
                finished = derived in (TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.ABORTED)
                ran = counts["done"] + counts["failed"] + counts["running"] > 0
                scene = f"/proj/{project['name']}/shot_{task_id:05d}.blend"
                task_rows.append(
                    {
                        "id": task_id,
                        "account_id": project["account_id"],
                        "project_id": project["id"],
                        "project_name": project["name"],
                        "cg_soft_name": SOFT,
                        "plugin_name": "",
                        "job_type": "blender",
                        "software_key": SOFT,
                        "scene_path": scene,
                        "frames_spec": frame_spec.format(numbers),
                        "render_layer": "",
                        "camera": "",
                        "artist": f"artist{index % 7}",
                        "options": {},
                        "warnings": [],
                        "priority": 0,
                        "chunk_size": 1,
                        "max_attempts": 3,
                        "output_folder": f"{task_id}_shot_{task_id:05d}",
                        "status": derived.value,
                        "frame_count": n,
                        **{f"n_{s}": c for s, c in counts.items()},
                        "submit_time": submit,
                        "start_time": submit + 60 if ran else None,
                        "completed_time": last_end if finished else None,
                        "band": 0,
                        "blocked_reason": "",
                        "failure_summary": summarize(
                            n, [("renderer_crash", FAIL_ERROR, counts["failed"])]
                        )
                        if counts["failed"]
                        else "",
                    }
                )
                if owner == MAIN:
                    by_status.setdefault(derived.value, []).append(task_id)
            for i in range(0, len(task_rows), 2000):
                conn.execute(insert(schema.tasks), task_rows[i : i + 2000])
            if lease_rows:
                conn.execute(insert(schema.leases), lease_rows)
            _copy_frames(conn, farm.db, frame_rows)
            if farm.db == "postgresql":
                for table in ("projects", "plugin_configs", "workers", "tasks", "leases"):
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
                        )
                    )
        if farm.db == "postgresql":  # what autovacuum does after a big load, done now
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()
    return Filled(
        big_task=1,
        tasks=total_tasks,
        frames=len(frame_rows),
        seconds=round(time.perf_counter() - started, 1),
        by_status=by_status,
    )


FRAME_COLUMNS = (
    "task_id",
    "number",
    "status",
    "attempts",
    "lease_id",
    "worker_id",
    "progress",
    "start_time",
    "end_time",
    "render_time",
    "error",
    "failure_category",
    "seq",
)


def _batches(rows: list[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def _copy_frames(conn: Any, db: str, rows: list[tuple[Any, ...]]) -> None:
    """The frame rows by the driver's bulk path, in the transaction of `conn`."""
    raw = conn.connection.driver_connection
    cols = ", ".join(FRAME_COLUMNS)
    if db == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY frames ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in FRAME_COLUMNS)
    cur = raw.cursor()
    for batch in _batches(rows, 50_000):
        cur.executemany(f"INSERT INTO frames ({cols}) VALUES ({marks})", batch)


def submit_probe(
    farm: Farm,
    frames: int = 1,
    name: str = MAIN,
    project: str = "probe",
    ensure: bool = True,
    user: httpx.Client | None = None,
    chunk: int = 1,
) -> int:
    """Submit a `command` task of `chunk` frames per chunk through the API (with `ensure`,
    uploading its scene and making its project first when they are missing: a worker with
    `command 1` must have joined before); the benchmarks' simulated workers, which have
    `command 1`, can take it. `user`: a client of account `name` to use (default: a new one)."""
    user = user or farm.user(name)
    if ensure and not any(
        p.get("project_name") == project for p in user.get("/api/projects").json()
    ):
        user.post(
            "/api/projects",
            json={"project_name": project, "plugins": [{"cg_soft_name": "command 1"}]},
        ).raise_for_status()
        data = b"no-op"
        digest = hashlib.sha256(data).hexdigest()
        entry = {"path": "/probe/scene.txt", "size": len(data), "hash": digest}
        user.post("/api/files/check", json={"files": [entry]}).raise_for_status()
        user.put(
            f"/api/uploads/{digest}", params={"offset": 0, "total": len(data)}, content=data
        ).raise_for_status()
        user.post("/api/files/commit", json={"files": [entry]}).raise_for_status()
    r = user.post(
        "/api/tasks",
        json={
            "project_name": project,
            "input_scene_path": "/probe/scene.txt",
            "frames": f"1-{frames}",
            "chunk_size": chunk,
        },
    )
    r.raise_for_status()
    return int(r.json()["id"])


def web_login(farm: Farm, name: str = MAIN) -> httpx.Client:
    """A browser-like client logged in to the web pages through the login form."""
    import re

    web = httpx.Client(base_url=farm.url, timeout=120, follow_redirects=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/login").text)
    assert found, "no CSRF field on the login page"
    reply = web.post(
        "/login",
        data={"csrf_token": found.group(1), "account": name, "access_key": farm.keys[name]},
    )
    assert reply.status_code == 200 and "Logged in as" in reply.text, reply.status_code
    return web


def register(farm: Farm, name: str, software: list[dict[str, str]], **kw: Any) -> str:
    """Register a worker with the join key; returns its token."""
    r = httpx.post(
        farm.url + "/api/worker/register",
        headers={"Authorization": f"Bearer {farm.join_key}"},
        json={"name": name, "software": software, **kw},
        timeout=60,
    )
    r.raise_for_status()
    return str(r.json()["token"])


def check(farm: Farm, filled: Filled) -> dict[str, Any]:
    """Ask the running server about the filled farm; raise if its answers disagree with it."""
    user = farm.user()
    big = user.get(f"/api/tasks/{filled.big_task}").json()
    assert (
        big["frame_count"]
        == big["counts"]["done"] + big["counts"]["running"] + big["counts"]["waiting"]
    ), big
    assert big["status"] == "rendering", big["status"]
    page = user.get("/api/tasks", params={"page_size": 1}).json()
    assert page["total"] >= 1, page
    seen: dict[str, int] = {}
    for status, ids in filled.by_status.items():
        record = user.get(f"/api/tasks/{ids[-1]}").json()
        assert record["status"] == status, (record["status"], status)
        assert sum(record["counts"].values()) == record["frame_count"], record
        seen[status] = int(
            user.get("/api/tasks", params={"task_status": status, "page_size": 1}).json()["total"]
        )
    return {"main_account_tasks": page["total"], "by_status": seen}


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--tasks", type=int, default=10_000)
    p.add_argument("--others", type=int, default=250, help="tasks of each other account")
    p.add_argument("--frames", type=int, default=1_000_000)
    p.add_argument("--big-task", type=int, default=10_000)
    args = p.parse_args()
    exit_on_sigterm()
    with Farm(args.db) as farm:
        filled = fill(
            farm, tasks=args.tasks, others=args.others, frames=args.frames, big_task=args.big_task
        )
        farm.start()
        print(
            json.dumps(
                {
                    "db": args.db,
                    "tasks": filled.tasks,
                    "frames": filled.frames,
                    "fill_seconds": filled.seconds,
                    "api": check(farm, filled),
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
