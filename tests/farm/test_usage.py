"""Usage: one row per frame attempt, core- and GPU-seconds from the frames' times and the
worker's cores, GPUs and slots; sums per account, project and task; kept after a delete."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from foxden.db.schema import frames, usage
from foxden.farm import usage as usage_report
from tests.conftest import LiveServer, farm_settings, running_server
from tests.farmkit import make_project, submit, upload


@pytest.fixture
def live(db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A farm that bills 3.6 per core-hour (0.001 per core-second)."""
    with running_server(farm_settings(db_url, tmp_path, fee_per_core_hour=3.6)) as server:
        yield server


def _worker(live: LiveServer, cores: int, slots: int, gpus: list[str]) -> httpx.Client:
    reply = httpx.post(
        f"{live.url}/api/worker/register",
        json={
            "name": f"w{cores}",
            "software": [{"name": "command", "version": "1"}],
            "cores": cores,
            "slots": slots,
            "gpus": gpus,
        },
        headers={"Authorization": f"Bearer {live.farm.join_key}"},
        timeout=30,
    )
    reply.raise_for_status()
    return httpx.Client(
        base_url=live.url, headers={"Authorization": f"Bearer {reply.json()['token']}"}, timeout=30
    )


def _render(worker: httpx.Client, times: dict[int, float], fail_once: set[int]) -> None:
    """Claim and report until there is no work: frames in `fail_once` fail their first attempt."""
    failed: set[int] = set()
    while (reply := worker.post("/api/worker/claim", json={})).status_code == 200:
        lease = reply.json()
        results: list[dict[str, Any]] = []
        for f in lease["frames"]:
            if f in fail_once and f not in failed:
                failed.add(f)
                results.append(
                    {
                        "frame": f,
                        "status": "failed",
                        "error": "Blender exited with signal 11 (SIGSEGV)",
                    }
                )
            else:
                results.append({"frame": f, "status": "done", "render_time": times[f]})
        rep = worker.post(
            f"/api/worker/leases/{lease['lease_id']}/frames", json={"results": results}
        )
        assert rep.status_code == 200, rep.text


def test_usage_sums_match_frame_times(live: LiveServer) -> None:
    user = live.client(live.user_key)
    worker = _worker(live, cores=8, slots=2, gpus=["RTX A4000", "RTX A4000"])
    make_project(user, "lighting")
    upload(user, "/v/p/scene.txt", b"scene")
    times = {1: 2.0, 2: 3.5, 3: 10.0}
    gpu_task = submit(
        user,
        project_name="lighting",
        input_scene_path="/v/p/scene.txt",
        frames="1-3",
        device="OPTIX",
    )
    started = time.time()
    _render(worker, times, fail_once={2})
    elapsed = time.time() - started
    cpu_task = submit(
        user, project_name="lighting", input_scene_path="/v/p/scene.txt", frames="1-2"
    )
    _render(worker, times, fail_once=set())
    with live.farm.db.read() as conn:
        rows = conn.execute(select(usage).order_by(usage.c.id)).all()
        render_times = dict(
            conn.execute(
                select(frames.c.number, frames.c.render_time).where(
                    frames.c.task_id == gpu_task["id"]
                )
            ).all()
        )
    gpu_rows = [r for r in rows if r.task_id == gpu_task["id"]]
    assert sorted(r.frame_number for r in gpu_rows) == [1, 2, 2, 3]  # the failed attempt too
    done = list({r.frame_number: r for r in gpu_rows}.values())  # each frame's last attempt
    assert sum(r.core_seconds for r in done) == pytest.approx(sum(render_times.values()) * 8 / 2)
    assert sum(r.gpu_seconds for r in done) == pytest.approx(sum(render_times.values()) * 2 / 2)
    failed_attempt = next(r for r in gpu_rows if r.frame_number == 2)
    assert 0 <= failed_attempt.core_seconds <= elapsed * 4  # from its start until the report
    cpu_rows = [r for r in rows if r.task_id == cpu_task["id"]]
    assert sum(r.core_seconds for r in cpu_rows) == pytest.approx((2.0 + 3.5) * 4)
    assert all(r.gpu_seconds == 0 for r in cpu_rows)  # no GPU device asked for
    total = sum(r.core_seconds for r in rows)

    per_task = user.get("/api/usage", params={"by": "task"}).json()
    assert {line["task_id"]: line["frames"] for line in per_task["lines"]} == {
        gpu_task["id"]: 4,
        cpu_task["id"]: 2,
    }
    assert per_task["core_seconds"] == pytest.approx(total)
    assert per_task["fee"] == pytest.approx(round(total / 1000, 2))
    per_project = user.get("/api/usage", params={"by": "project"}).json()["lines"]
    assert [(p["project_name"], p["account"]) for p in per_project] == [("lighting", "alice")]

    # a deleted task's usage stays
    assert user.delete(f"/api/tasks/{cpu_task['id']}").status_code == 200
    after = user.get("/api/usage", params={"by": "task"}).json()
    assert after["core_seconds"] == pytest.approx(total)


def test_usage_is_per_account_and_admins_see_all(live: LiveServer) -> None:
    user = live.client(live.user_key)
    worker = _worker(live, cores=4, slots=1, gpus=[])
    make_project(user, "p")
    upload(user, "/v/p/scene.txt", b"scene")
    submit(user, project_name="p", input_scene_path="/v/p/scene.txt", frames="1")
    _render(worker, {1: 5.0}, fail_once=set())
    bob = live.client(live.new_account("bob"))
    assert bob.get("/api/usage").json()["lines"] == []
    refused = bob.get("/api/usage", params={"account_name": "alice"})
    assert refused.status_code == 403 and "administrator" in refused.json()["error"]["message"]
    admin = live.client(live.admin_key)
    everyone = admin.get("/api/usage", params={"all_accounts": True, "by": "account"}).json()
    assert [(line["account"], line["core_seconds"]) for line in everyone["lines"]] == [
        ("alice", pytest.approx(20.0))
    ]
    one = admin.get("/api/usage", params={"account_name": "alice"}).json()
    assert one["core_seconds"] == pytest.approx(20.0)
    assert admin.get("/api/usage", params={"account_name": "nobody"}).status_code == 404
    later = user.get("/api/usage", params={"since": "1d"}).json()
    assert later["core_seconds"] == pytest.approx(20.0)
    future = user.get("/api/usage", params={"since": "2999-01-01"}).json()
    assert future["lines"] == [] and future["core_seconds"] == 0
    bad = user.get("/api/usage", params={"since": "last tuesday"})
    assert bad.status_code == 400 and "not a date" in bad.json()["error"]["message"]


def test_since_and_fee() -> None:
    now = 1_000_000.0
    assert usage_report.parse_since("7d", now) == now - 7 * 86400
    assert usage_report.parse_since("12h", now) == now - 12 * 3600
    assert usage_report.parse_since("1970-01-02") == 86400.0
    assert usage_report.parse_since(None) is None
    assert usage_report.fee(7200.0, 1.5) == 3.0


def test_the_vendors_fee_fields_follow_the_rate(live: LiveServer) -> None:
    from tests.rayvision_kit import sdk_caller

    user = live.client(live.user_key)
    worker = _worker(live, cores=2, slots=1, gpus=[])
    make_project(user, "p")
    upload(user, "/v/p/scene.txt", b"scene")
    task = submit(user, project_name="p", input_scene_path="/v/p/scene.txt", frames="1")
    _render(worker, {1: 1800.0}, fail_once=set())  # 1 core-hour at 3.6 per core-hour
    head = {"account": "alice", "access_key": live.user_key, "action": "query_task"}
    reply = live.client().post("/api/v1/task", json={"head": head, "body": {"task_id": task["id"]}})
    (record,) = reply.json()["body"]["data"]
    assert record["fee"] == pytest.approx(3.6)
    sdk = sdk_caller(live.url, live.user_key)
    (info,) = sdk.call("/api/render/handle/queryTaskInfo/v2", {"taskIds": [task["id"]]})["items"]
    assert info["renderConsume"] == info["userAccountConsume"] == pytest.approx(3.6)
    assert info["couponConsume"] == 0 and info["renderDuration"] == 1800
