"""`foxden render` when things do not simply finish: Ctrl-C (the task renders on, or stops with
--stop-on-interrupt) and a task that fails (what failed, where the rendered frames went). Run as
the real command in a subprocess against a live farm."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli.clikit import FOXDEN, CliFarm
from tests.client.simworker import SimWorker
from tests.waiting import wait_until


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    path = tmp_path / "shot" / "a.ma"
    path.parent.mkdir()
    path.write_text("// a scene\n")
    return path


def _render_then_interrupt(farm: CliFarm, scene: Path, out: Path, *extra: str) -> tuple[int, str]:
    """Start `foxden render`, press Ctrl-C once its task is submitted; (task id, stderr)."""
    log = out.parent / "render.err"
    argv = [*FOXDEN, "render", str(scene), "--project", "p", "--frames", "1-2", "--out", str(out)]
    with log.open("w") as err:
        proc = subprocess.Popen(
            [*argv, *extra], env=farm.env, stdout=subprocess.PIPE, stderr=err, text=True
        )
    try:
        found = wait_until(
            "the render to submit its task",
            lambda: (
                re.search(r"^task (\d+) queued", log.read_text(), re.MULTILINE)
                or proc.poll() is not None
            ),
            timeout=60,
        )
        assert proc.poll() is None, log.read_text()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not isinstance(found, bool)
    return int(found.group(1)), log.read_text()


def test_ctrl_c_leaves_the_task_rendering_and_says_how_to_stop_or_download_it(
    farm: CliFarm, scene: Path, tmp_path: Path
) -> None:
    out = tmp_path / "renders"
    task_id, err = _render_then_interrupt(farm, scene, out)
    assert f"interrupted: task {task_id} goes on rendering on the farm" in err
    assert f"foxden stop {task_id}\n" in err
    assert f"foxden download {task_id} --out {out}\n" in err
    assert "Traceback" not in err
    assert farm.task(task_id)["status"] == "queued"


def test_ctrl_c_with_stop_on_interrupt_stops_the_task(
    farm: CliFarm, scene: Path, tmp_path: Path
) -> None:
    task_id, err = _render_then_interrupt(farm, scene, tmp_path / "r", "--stop-on-interrupt")
    assert (
        f"interrupted: task {task_id} is stopped; resume it with 'foxden resume {task_id}'" in err
    )
    assert farm.task(task_id)["status"] == "stopped"


class FailingWorker(SimWorker):
    """Renders like SimWorker, except the frames in `fail` (one frame per claim)."""

    def __init__(self, url: str, join_key: str, fail: set[int]) -> None:
        super().__init__(url, join_key)
        self.fail = fail

    def _render(self, lease: dict[str, Any]) -> None:
        frame = lease["frames"][0]
        if frame not in self.fail:
            super()._render(lease)
            return
        result = {"frame": frame, "status": "failed", "error": f"boom on frame {frame}\nmore"}
        self.http.post(
            f"/api/worker/leases/{lease['lease_id']}/frames", json={"results": [result]}
        ).raise_for_status()


def _render_with(
    farm: CliFarm, scene: Path, out: Path, fail: set[int]
) -> subprocess.CompletedProcess[str]:
    worker = FailingWorker(farm.server.url, farm.server.farm.join_key, fail)
    worker.start()
    try:
        return farm.run(
            "render", str(scene), "--project", "p", "--frames", "1-3", "--out", str(out),
            "--chunk-size", "1", "--option", "max_attempts=1",
        )  # fmt: skip
    finally:
        worker.stop()
        assert not worker.errors, worker.errors


def test_a_failed_render_says_what_failed_and_where_the_rendered_frames_are(
    farm: CliFarm, scene: Path, tmp_path: Path
) -> None:
    out = tmp_path / "renders"
    done = _render_with(farm, scene, out, {2})
    assert done.returncode == 1, done.stderr
    task_id = int(re.findall(r"^task (\d+) queued", done.stderr, re.MULTILINE)[0])
    assert f"task {task_id} failed: 1 of 3 frame(s) did not render" in done.stderr
    assert "  frame 2 failed: boom on frame 2\n" in done.stderr
    assert f"a frame's log: foxden log {task_id} 2" in done.stderr
    folder = Path(re.findall(r"the 2 frame\(s\) that rendered are in (.+)", done.stderr)[0])
    assert sorted(p.name for p in folder.iterdir()) == ["a_0001.png", "a_0003.png"]


def test_a_render_where_nothing_rendered_names_no_folder(
    farm: CliFarm, scene: Path, tmp_path: Path
) -> None:
    out = tmp_path / "renders"
    done = _render_with(farm, scene, out, {1, 2, 3})
    assert done.returncode == 1
    assert "3 of 3 frame(s) did not render" in done.stderr
    assert "no frame rendered, so nothing was downloaded" in done.stderr
    assert "are in" not in done.stderr and str(out) not in done.stderr
