"""`foxden download TASK --follow` as the real command, against a live farm whose worker finishes
frames when the test makes it; and the estimates in `foxden tasks`."""

from __future__ import annotations

import hashlib
import re
import signal
import subprocess
from pathlib import Path

from tests.cli.clikit import FOXDEN, CliFarm
from tests.client.simworker import render_png
from tests.waiting import wait_until


def finish_one(farm: CliFarm, task_id: int) -> int:
    """Claim one frame of the task as the worker and report it done with a PNG; its number."""
    lease = farm.worker.post("/api/worker/claim", json={"max_frames": 1}).json()
    assert lease["task"]["id"] == task_id, lease
    frame = int(lease["frames"][0])
    data = render_png(frame, "", "", b"scene")
    digest = hashlib.sha256(data).hexdigest()
    farm.worker.put(
        f"/api/worker/blobs/{digest}", params={"lease": lease["lease_id"]}, content=data
    ).raise_for_status()
    output = {"name": f"a_{frame:04d}.png", "hash": digest, "size": len(data)}
    result = {"frame": frame, "status": "done", "outputs": [output]}
    farm.worker.post(
        f"/api/worker/leases/{lease['lease_id']}/frames", json={"results": [result]}
    ).raise_for_status()
    return frame


def follow(farm: CliFarm, task_id: int, out: Path) -> tuple[subprocess.Popen[str], Path]:
    """Start `foxden download TASK --follow`; the process and the file its stderr goes to."""
    log = out.parent / f"follow-{task_id}.err"
    argv = [*FOXDEN, "download", str(task_id), "--follow", "--poll", "0.1", "--out", str(out)]
    with log.open("w") as err:
        proc = subprocess.Popen(argv, env=farm.env, stdout=subprocess.PIPE, stderr=err, text=True)
    return proc, log


def _pngs(out: Path) -> list[Path]:
    return sorted(out.rglob("*.png"))


def test_download_follow_fetches_frames_as_they_are_done(farm: CliFarm, tmp_path: Path) -> None:
    task_id = farm.submit("1-3", "--chunk-size", "1")
    out = tmp_path / "renders"
    proc, log = follow(farm, task_id, out)
    try:
        first = finish_one(farm, task_id)
        wait_until("the first frame's file", lambda: _pngs(out), timeout=30)
        assert [p.name for p in _pngs(out)] == [f"a_{first:04d}.png"]
        assert proc.poll() is None, log.read_text()  # the task renders on: it follows on
        finish_one(farm, task_id)
        finish_one(farm, task_id)
        stdout, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = log.read_text()
    assert proc.returncode == 0, err
    assert f"task {task_id} rendering: 1/3 frames done, 1 file(s) fetched" in err
    assert f"task {task_id} done: 3/3 frames done, 3 file(s) fetched" in err
    assert "downloaded 3 file(s)" in stdout and len(_pngs(out)) == 3

    again = farm.run("download", str(task_id), "--follow", "--out", str(out), "--json")
    assert again.returncode == 0, again.stderr
    assert '"files_fetched": 0' in again.stdout and '"files_skipped": 3' in again.stdout


def test_ctrl_c_stops_following_and_says_how_to_go_on(farm: CliFarm, tmp_path: Path) -> None:
    task_id = farm.submit("1-2", "--chunk-size", "1")
    out = tmp_path / "renders"
    proc, log = follow(farm, task_id, out)
    try:
        wait_until("the first poll", lambda: f"task {task_id} queued" in log.read_text())
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = log.read_text()
    assert f"stopped following task {task_id} (it renders on on the farm)" in err
    assert f"'foxden download {task_id} --follow --out {out}' fetches the rest" in err
    assert "Traceback" not in err
    assert farm.task(task_id)["status"] == "queued"


def test_following_a_stopped_task_ends_saying_so(farm: CliFarm, tmp_path: Path) -> None:
    task_id = farm.submit("1-3", "--chunk-size", "1")
    finish_one(farm, task_id)
    farm.user.post(f"/api/tasks/{task_id}/stop").raise_for_status()
    done = farm.run("download", str(task_id), "--follow", "--out", str(tmp_path / "r"))
    assert done.returncode == 1
    assert f"task {task_id} was stopped: the frames done so far are downloaded" in done.stderr
    assert f"foxden resume {task_id}" in done.stderr
    assert "downloaded 1 file(s)" in done.stdout


def test_tasks_shows_the_eta_and_core_hours(farm: CliFarm) -> None:
    task_id = farm.submit("1-3", "--chunk-size", "1")
    listed = farm.run("tasks")
    header = listed.stdout.splitlines()[0].split()
    assert header[:7] == ["ID", "PROJECT", "STATUS", "FRAMES", "DONE", "ETA", "CORE-H"]
    row = next(line.split() for line in listed.stdout.splitlines() if line.startswith(str(task_id)))
    assert row[5:7] == ["-", "-"]  # nothing done yet: unknown
    finish_one(farm, task_id)
    row = next(
        line.split()
        for line in farm.run("tasks").stdout.splitlines()
        if line.startswith(str(task_id))
    )
    assert row[5] == "-"  # no frame renders now: no ETA
    assert row[6] != "-"  # one frame done: the whole task's core-hours are estimated


def test_render_downloads_each_frame_as_it_is_done(farm: CliFarm, tmp_path: Path) -> None:
    scene = tmp_path / "shot" / "a.ma"
    scene.parent.mkdir()
    scene.write_text("// a scene\n")
    out = tmp_path / "renders"
    log = tmp_path / "render.err"
    argv = [*FOXDEN, "render", str(scene), "--project", "p", "--frames", "1-2", "--out", str(out)]
    with log.open("w") as err:
        proc = subprocess.Popen(
            [*argv, "--chunk-size", "1"],
            env=farm.env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    try:
        found = wait_until(
            "the render to submit its task",
            lambda: re.search(r"^task (\d+) queued", log.read_text(), re.MULTILINE),
        )
        assert found is not None
        task_id = int(found.group(1))
        finish_one(farm, task_id)
        wait_until("the first frame's file", lambda: _pngs(out), timeout=30)
        assert proc.poll() is None, log.read_text()  # frame 2 is not done: render waits on
        finish_one(farm, task_id)
        stdout, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()
    assert "2 frame(s) in" in stdout and len(_pngs(out)) == 2
    assert "downloaded 2 file(s)" in log.read_text()


def test_render_stops_waiting_after_its_timeout_and_says_how_to_go_on(
    farm: CliFarm, tmp_path: Path
) -> None:
    scene = tmp_path / "shot" / "a.ma"
    scene.parent.mkdir()
    scene.write_text("// a scene\n")
    out = tmp_path / "renders"
    done = farm.run(
        "render", str(scene), "--project", "p", "--frames", "1-2", "--out", str(out),
        "--timeout", "0.5",
    )  # fmt: skip
    assert done.returncode == 1
    task_id = int(re.findall(r"^task (\d+) queued", done.stderr, re.MULTILINE)[0])
    assert f"task {task_id} did not finish in time (it is queued, 0/2 frames done" in done.stderr
    assert f"it renders on: 'foxden download {task_id} --follow --out {out}'" in done.stderr
    assert farm.task(task_id)["status"] == "queued"
