"""Why a task waits, in `foxden frames TASK`: a line under the task's when no worker takes it,
none while it waits only for a free worker."""

from __future__ import annotations

from tests.cli.clikit import CliFarm


def test_frames_says_why_no_worker_takes_the_task(farm: CliFarm) -> None:
    task_id = farm.submit("1-5")
    lines = farm.run("frames", str(task_id)).stdout.splitlines()
    assert lines[0].startswith(f"task {task_id} queued") and lines[1].split()[0] == "FRAME"
    for _ in range(3):  # the only worker fails 3 frames: the farm keeps it off the task
        farm.fail_once(task_id, "Error: crashed\n", "crashed")
    done = farm.run("frames", str(task_id))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"task {task_id} queued")
    assert lines[1].startswith(
        "waiting: no worker takes it: 1 worker that offers command 1 failed 3 or more"
    )
    assert lines[2].split()[0] == "FRAME"
