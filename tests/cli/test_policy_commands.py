"""The scheduling policy's commands as the real `foxden` command: `foxden limit set | list |
remove` and `foxden account share` on the farm's database (admins), `foxden submit
--depends-on --limit` (accounts), a blocked task in `foxden tasks`, flags in `foxden workers
list`."""

from __future__ import annotations

import json

from tests.cli.clikit import CliFarm


def _admin(farm: CliFarm, *argv: str) -> tuple[int, str, str]:
    settings = farm.server.farm.settings
    where = ["--data-dir", str(settings.data_dir), "--database-url", settings.db_url]
    done = farm.run(*argv, *where)
    return done.returncode, done.stdout, done.stderr


def test_limits_and_shares_from_the_command_line(farm: CliFarm) -> None:
    code, out, err = _admin(farm, "limit", "set", "arnold", "2")
    assert code == 0, err
    assert json.loads(out) == {"name": "arnold", "max_running": 2, "running": 0, "tasks": 0}
    task_id = farm.submit("1-5", "--limit", "arnold")
    policy = farm.user.get(f"/api/tasks/{task_id}/policy").json()
    assert policy["limits"] == ["arnold"]
    code, out, _ = _admin(farm, "limit", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "MAX", "RUNNING", "TASKS"]
    assert lines[1].split() == ["arnold", "2", "0", "1"]
    listed = json.loads(_admin(farm, "limit", "list", "--json")[1])
    assert listed[0]["tasks"] == 1
    code, out, err = _admin(farm, "account", "share", "alice", "3")
    assert code == 0, err and json.loads(out) == {"account": "alice", "share": 3.0}
    admin = farm.server.client(farm.server.admin_key)
    assert admin.get("/api/accounts/alice/share").json()["share"] == 3.0
    code, _, err = _admin(farm, "account", "share", "alice", "0")
    assert code == 1 and "a share is a number above 0" in err
    assert _admin(farm, "limit", "remove", "arnold")[0] == 0
    code, _, err = _admin(farm, "limit", "remove", "arnold")
    assert code == 1 and "no limit named 'arnold'" in err
    code, _, err = _admin(farm, "limit", "set", "bad name", "2")
    assert code == 1 and "a limit's name" in err


def test_submit_depends_on_and_a_blocked_task_in_the_lists(farm: CliFarm) -> None:
    parent = farm.submit("1-2")
    child = farm.submit("1-2", "--depends-on", str(parent))
    policy = farm.user.get(f"/api/tasks/{child}/policy").json()
    assert policy["depends_on"] == [{"id": parent, "status": "queued"}]
    done = farm.run("submit", "--project", "p", "--scene", "/proj/shot/a.ma", "--frames",
                    "1", "--depends-on", "99999")  # fmt: skip
    assert done.returncode == 1 and "no task 99999 in your account" in done.stderr
    done = farm.run("submit", "--project", "p", "--scene", "/proj/shot/a.ma", "--frames",
                    "1", "--limit", "nothing")  # fmt: skip
    assert done.returncode == 1 and "no limit named 'nothing'" in done.stderr
    assert farm.user.post(f"/api/tasks/{parent}/abort").status_code == 200
    table = farm.run("tasks").stdout
    row = next(line for line in table.splitlines() if line.split()[0] == str(child))
    assert "queued (blocked)" in row
    line = farm.run("frames", str(child)).stdout  # the task's line first
    assert f"task {parent} aborted" in line


def test_workers_list_shows_the_failure_streak_and_flag(farm: CliFarm) -> None:
    code, out, err = _admin(farm, "workers", "list")
    assert code == 0, err
    listed = json.loads(out)
    assert listed and all(w["flagged"] is False and w["failure_streak"] == 0 for w in listed)
