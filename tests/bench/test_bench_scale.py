"""bench/bigfarm.py, bench/scale.py and bench/idle.py at a tiny size, so they do not rot.

No timing is asserted: the benchmarks measure, these tests check that they run and that the
fast path's farm is one the server reads like a farm made through the API.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import DATABASES, PG_ADMIN_DSN

BENCH = Path(__file__).resolve().parents[2] / "bench"
TINY = ["--tasks", "40", "--others", "5", "--frames", "2000", "--big-task", "300"]


def _bigfarm() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_bigfarm", BENCH / "bigfarm.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_bigfarm", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=DATABASES)
def db(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        request.getfixturevalue("pg_ready")
    return str(request.param)


def test_filled_farm_keeps_the_counters(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    bigfarm = _bigfarm()
    monkeypatch.setattr(bigfarm, "PG_ADMIN", PG_ADMIN_DSN)
    with bigfarm.Farm(db) as farm:
        filled = bigfarm.fill(farm, tasks=40, others=5, frames=2000, big_task=300)
        assert (filled.tasks, filled.frames) == (50, 2000)
        engine = create_engine(farm.sa_url)
        with engine.connect() as conn:
            wrong = conn.execute(
                text(
                    "SELECT t.id FROM tasks t JOIN (SELECT task_id, COUNT(*) AS n, "
                    "SUM(CASE WHEN status = 'waiting' THEN 1 ELSE 0 END) AS w, "
                    "SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END) AS r, "
                    "SUM(CASE WHEN status = 'done' THEN 1 ELSE 0 END) AS d, "
                    "SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS f, "
                    "SUM(CASE WHEN status = 'stopped' THEN 1 ELSE 0 END) AS s, "
                    "SUM(CASE WHEN status = 'aborted' THEN 1 ELSE 0 END) AS a, "
                    "COUNT(seq) AS q FROM frames GROUP BY task_id) c ON c.task_id = t.id "
                    "WHERE t.frame_count <> c.n OR t.n_waiting <> c.w OR t.n_running <> c.r "
                    "OR t.n_done <> c.d OR t.n_failed <> c.f OR t.n_stopped <> c.s "
                    "OR t.n_aborted <> c.a OR c.q <> c.n"
                )
            ).all()
            running = conn.execute(
                text(
                    "SELECT COUNT(*) FROM frames f JOIN leases l ON l.id = f.lease_id "
                    "WHERE f.status = 'running' AND l.state = 'active' "
                    "AND l.worker_id = f.worker_id AND l.task_id = f.task_id"
                )
            ).scalar_one()
            n_running = conn.execute(text("SELECT SUM(n_running) FROM tasks")).scalar_one()
        engine.dispose()
        assert wrong == []
        assert running == n_running > 0
        farm.start()
        bigfarm.check(farm, filled)
        big = farm.user().get("/api/tasks/1", params={"frames": "true"}).json()
        assert len(big["frames_detail"]) == 300
        statuses = [f["status"] for f in big["frames_detail"]]
        assert {s: statuses.count(s) for s in set(statuses)} == {
            k: v for k, v in big["counts"].items() if v
        }
        # the filled waiting work is real work: a worker with its software gets a frame of it,
        # one with `command 1` only (the benchmarks' simulated workers) gets nothing
        blender = bigfarm.register(farm, "b", [{"name": "blender", "version": "3.6"}])
        command = bigfarm.register(farm, "c", [{"name": "command", "version": "1"}])
        claim = httpx.post(
            farm.url + "/api/worker/claim",
            headers={"Authorization": f"Bearer {blender}"},
            json={},
            timeout=30,
        )
        assert claim.status_code == 200, claim.text
        nothing = httpx.post(
            farm.url + "/api/worker/claim",
            headers={"Authorization": f"Bearer {command}"},
            json={},
            timeout=30,
        )
        assert nothing.status_code == 204
        probe = bigfarm.submit_probe(farm, 2)
        lease = httpx.post(
            farm.url + "/api/worker/claim",
            headers={"Authorization": f"Bearer {command}"},
            json={},
            timeout=30,
        ).json()
        assert lease["task"]["id"] == probe


def _run(script: str, db: str, out: Path, *extra: str) -> dict[str, object]:
    env = {**os.environ, "FOXDEN_BENCH_PG": PG_ADMIN_DSN}
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--db", db, *TINY, *extra, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| database |" in done.stdout  # the markdown table
    result: dict[str, object] = json.loads(out.read_text())
    return result


def test_scale_runs_at_a_tiny_size(db: str, tmp_path: Path) -> None:
    out = _run("scale.py", db, tmp_path / "scale.json", "--probe-frames", "50", "--rounds", "3")
    (res,) = out["results"]  # type: ignore[misc]
    assert res["db"] == db
    names = [r["measure"] for r in res["rows"]]
    assert names == [
        "page 1",
        "status list",
        "status count",
        "Fox.get_tasks()",
        "task + frames",
        "web task page",
        "claim, nothing eligible",
        "claim, finds work",
    ]
    for r in res["rows"]:
        assert r["empty_p50_ms"] > 0 and r["big_p50_ms"] > 0 and r["ratio_p50"] > 0


def test_idle_runs_at_a_tiny_size(db: str, tmp_path: Path) -> None:
    out = _run(
        "idle.py",
        db,
        tmp_path / "idle.json",
        "--workers",
        "5",
        "--window",
        "3",
        "--warmup",
        "1",
        "--probe-every",
        "1",
    )
    rows = out["results"]
    assert [(r["mode"], r["workers"]) for r in rows] == [("poll", 5), ("long-poll", 5)]  # type: ignore[attr-defined]
    for r in rows:  # type: ignore[attr-defined]
        assert r["claims_per_s"] > 0 and r["errors"] == 0
        assert r["probes"] >= 2 and r["probes_claimed"] >= 1
        assert r["server_cpu_pct"] > 0
        assert (r["db_cpu_pct"] is None) == (db == "sqlite")
        buckets = r["latency_by_half_second"]
        assert sum(b["claims"] for b in buckets) == r["answered"]
        assert all(0 <= b["at_s"] <= r["window_s"] for b in buckets)  # sent in the window
        assert len(r["probes_at_s"]) == r["probes"]
