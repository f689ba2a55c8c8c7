"""`foxden submit --frame-timeout --progress-timeout --chunk-seconds` as the real command: the
lease a worker gets carries the limits, the task chunks by its target; a bad value is refused
with the farm's reason; `foxden render` takes the same flags."""

from __future__ import annotations

import json

import pytest

from tests.cli.clikit import CliFarm


def test_submit_flags_reach_the_workers_lease(farm: CliFarm) -> None:
    task_id = farm.submit(
        "1-30", "--frame-timeout", "90", "--progress-timeout", "30", "--chunk-seconds", "20"
    )
    assert farm.task(task_id)["chunk_size"] == 100
    lease = farm.worker.post("/api/worker/claim", json={}).json()
    assert lease["task"]["id"] == task_id
    assert (lease["frame_timeout_s"], lease["progress_timeout_s"]) == (90, 30)
    assert lease["frames"] == [1]  # no frame time known yet


def test_a_bad_limit_is_refused_with_the_farms_reason(farm: CliFarm) -> None:
    done = farm.run(
        "submit", "--project", "p", "--scene", "/proj/shot/a.ma", "--frames", "1",
        "--frame-timeout", "-4",
    )  # fmt: skip
    assert done.returncode != 0
    assert "frame_timeout_s must be a whole number of seconds" in done.stderr, done.stderr
    assert farm.user.get("/api/tasks").json()["total"] == 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_render_takes_the_same_flags(farm: CliFarm) -> None:
    shown = farm.run("render", "--help").stdout
    for flag in ("--frame-timeout", "--progress-timeout", "--chunk-seconds"):
        assert flag in shown


def test_projects_time_limits_shows_and_sets_a_projects_defaults(farm: CliFarm) -> None:
    shown = farm.run("projects", "time-limits", "p")
    assert shown.returncode == 0, shown.stderr
    assert "frame time limit none, no-progress limit none" in shown.stdout
    done = farm.run("projects", "time-limits", "p", "--progress-timeout", "120")
    assert "no-progress limit 120 s" in done.stdout, done.stderr
    done = farm.run("projects", "time-limits", "p", "--frame-timeout", "600", "--json")
    assert json.loads(done.stdout)["frame_timeout_s"] == 600
    assert json.loads(done.stdout)["progress_timeout_s"] == 120  # kept
    task_id = farm.submit("1")
    lease = farm.worker.post("/api/worker/claim", json={}).json()
    assert lease["task"]["id"] == task_id
    assert (lease["frame_timeout_s"], lease["progress_timeout_s"]) == (600, 120)
    refused = farm.run("projects", "time-limits", "p", "--frame-timeout", "-1")
    assert refused.returncode != 0 and "frame_timeout_s must be" in refused.stderr
    missing = farm.run("projects", "time-limits", "nope", "--frame-timeout", "5")
    assert missing.returncode != 0 and "no project named 'nope'" in missing.stderr
