"""The task commands through the real `foxden` command in a subprocess, against a live farm:
stop, resume, abort, delete (several ids), restart, log, submit's summary, the tables, a closed
pipe, projects' software, wrong-key hints."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.cli.clikit import FOXDEN, SCENE, CliFarm


def test_submit_prints_one_line_and_the_tables_show_camera_layer_artist(
    farm: CliFarm, tmp_path: Path
) -> None:
    done = farm.run(
        "submit", "--project", "p", "--scene", SCENE, "--frames", "1-4",
        "--camera", "CamB", "--layer", "L1", "--artist", "bob",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    task_id = int(done.stdout.split()[1])
    assert done.stdout.strip() == (
        f"task {task_id} queued: a.ma frames 1-4 (4 frames) in project p, "
        "camera CamB, layer L1, artist bob"
    )
    as_json = farm.run("submit", "--project", "p", "--scene", SCENE, "--frames", "4", "--json")
    record = json.loads(as_json.stdout)
    assert record["frames"] == "4" and record["status"] == "queued"

    listed = farm.run("tasks", "--status", "queued")
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:10] == [
        "ID",
        "PROJECT",
        "STATUS",
        "FRAMES",
        "DONE",
        "ETA",
        "CORE-H",
        "CAMERA",
        "LAYER",
        "ARTIST",
    ]
    row = next(r.split() for r in rows if r.split()[0] == str(task_id))
    assert row[2:10] == ["queued", "1-4", "0/4", "-", "-", "CamB", "L1", "bob"]
    assert farm.run("tasks", "--status", "done").stdout.splitlines()[1:] == []

    vendor_word = farm.run("tasks", "--status", "System_Done")
    assert vendor_word.returncode == 2
    assert "choose from 'queued', 'rendering', 'stopped', 'done', 'failed', 'aborted'" in (
        vendor_word.stderr
    )

    frames = farm.run("frames", str(task_id))
    lines = frames.stdout.splitlines()
    assert lines[0].startswith(f"task {task_id} queued: a.ma") and "camera CamB" in lines[0]
    assert [ln.split()[:2] for ln in lines[2:]] == [[str(n), "queued"] for n in range(1, 5)]

    nothing = farm.run("download", str(task_id), "--out", str(tmp_path / "down"))
    assert nothing.returncode == 0, nothing.stderr
    assert (
        nothing.stdout.splitlines()[-1] == f"task {task_id} has no output files yet (it is queued)"
    )
    assert "frames in" not in nothing.stdout


def test_stop_resume_abort_delete_take_several_tasks_and_say_why_one_is_refused(
    farm: CliFarm,
) -> None:
    one, two = farm.submit(), farm.submit("5-6")
    stopped = farm.run("stop", str(one), str(two))
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.splitlines() == [
        f"task {one} stopped (stopped)",
        f"task {two} stopped (stopped)",
    ]
    assert farm.task(one)["status"] == "stopped"

    again = farm.run("stop", str(one), "999999")
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr.splitlines() == [
        f"foxden: task {one} is stopped: only a queued or rendering task can be stopped",
        "foxden: no task 999999 in your account",
    ]
    resumed = farm.run("resume", str(one))
    assert resumed.returncode == 0 and resumed.stdout == f"task {one} resumed (queued)\n"
    assert farm.task(one)["status"] == "queued"

    refused = farm.run("delete", str(one), str(two))
    assert refused.returncode == 1
    assert refused.stdout == f"task {two} deleted\n"
    assert f"foxden: task {one} is queued: " in refused.stderr and "stop it first" in refused.stderr

    aborted = farm.run("abort", str(one))
    assert aborted.returncode == 0 and aborted.stdout == f"task {one} aborted (aborted)\n"
    assert farm.run("abort", str(one)).stderr.startswith(f"foxden: task {one} is aborted: ")
    assert farm.run("delete", str(one)).returncode == 0
    assert json.loads(farm.run("tasks", "--json").stdout) == []


def test_restart_and_the_log_of_a_frame_by_attempt(farm: CliFarm) -> None:
    task_id = farm.submit("1", "--option", "max_attempts=2")
    nothing = farm.run("restart", str(task_id))
    assert nothing.returncode == 1
    assert "no failed frame to restart" in nothing.stderr and f"task {task_id}" in nothing.stderr
    farm.fail_once(task_id, "first try log\n", "crash one")
    farm.fail_once(task_id, "second try log\n", "crash two")
    assert farm.task(task_id)["status"] == "failed"
    listed = farm.run("tasks").stdout
    assert "FAILURES" in listed and "1 of 1 frame failed: crash two" in listed
    framed = farm.run("frames", str(task_id)).stdout
    assert "WHY" in framed and "unknown" in framed and "advice: " in framed

    both = farm.run("log", str(task_id), "1")
    assert both.returncode == 0
    assert "first try log" in both.stdout and "second try log" in both.stdout
    first = farm.run("log", str(task_id), "1", "--attempt", "1")
    assert "first try log" in first.stdout and "second try" not in first.stdout
    assert "crash two" not in first.stdout
    second = farm.run("log", str(task_id), "1", "--attempt", "2")
    assert "second try log" in second.stdout and "crash two" in second.stdout
    missing = farm.run("log", str(task_id), "1", "--attempt", "3")
    assert missing.returncode == 1
    assert "has no log of attempt 3 (attempts logged: 1, 2)" in missing.stderr
    assert f"task {task_id} has no frame 7" in farm.run("log", str(task_id), "7").stderr

    restarted = farm.run("restart", str(task_id), "--failed")
    assert restarted.returncode == 0, restarted.stderr
    assert restarted.stdout == f"task {task_id}: restarted its failed frames; it is queued\n"
    frame = farm.task(task_id)["frames_detail"][0]
    assert frame["status"] == "waiting" and frame["attempts"] == 0

    unknown = farm.run("restart", str(task_id), "--frames", "1-2")
    assert unknown.returncode == 1 and f"task {task_id} has no frame(s) 2" in unknown.stderr
    chosen = farm.run("restart", str(task_id), "--frames", "1")
    assert chosen.returncode == 0 and "restarted frames 1" in chosen.stdout
    both_ways = farm.run("restart", str(task_id), "--failed", "--frames", "1")
    assert both_ways.returncode == 2 and "not allowed with argument" in both_ways.stderr


def test_projects_config_add_default_remove(farm: CliFarm) -> None:
    added = farm.run("projects", "config", "add", "p", "command 1", "--plugins", "extra")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("added command 1 to project p")
    project = json.loads(farm.run("projects", "--json").stdout)[0]
    first, second = (c["config_id"] for c in project["plugins"])
    assert [c["is_default"] for c in project["plugins"]] == [True, False]
    table = farm.run("projects").stdout
    assert f"#{first} command 1 (default)" in table and f"#{second} command 1 [extra]" in table

    made = farm.run("projects", "config", "default", "p", f"#{second}")
    assert made.returncode == 0 and f"renders with command 1 (#{second})" in made.stdout
    project = json.loads(farm.run("projects", "--json").stdout)[0]
    assert [c["is_default"] for c in project["plugins"]] == [False, True]

    ambiguous = farm.run("projects", "config", "remove", "p", "command 1")
    assert ambiguous.returncode == 1 and "name one by its id" in ambiguous.stderr
    gone = farm.run("projects", "config", "remove", "p", str(first))
    assert gone.returncode == 0 and f"removed command 1 (#{first}) from p" in gone.stdout
    assert len(json.loads(farm.run("projects", "--json").stdout)[0]["plugins"]) == 1

    nothing = farm.run("projects", "config", "remove", "p", "999")
    assert nothing.returncode == 1 and "project p has no config '999'" in nothing.stderr
    unknown = farm.run("projects", "config", "add", "p", "blender 9.9")
    assert unknown.returncode == 1
    assert "no worker of this farm offers 'blender 9.9'" in unknown.stderr
    no_project = farm.run("projects", "config", "add", "nope", "command 1")
    assert no_project.returncode == 1 and "nope" in no_project.stderr
    assert "Traceback" not in no_project.stderr


@pytest.mark.parametrize("reader", ["head -1", "true"])
def test_a_closed_pipe_ends_quietly(farm: CliFarm, reader: str) -> None:
    for _ in range(3):
        farm.submit()
    command = " ".join(FOXDEN) + f" tasks | {reader}"
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command}"],
        capture_output=True,
        text=True,
        timeout=60,
        env=farm.env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    if reader == "head -1":
        assert done.stdout.startswith("ID ")


def test_wrong_key_hints_fit_where_the_key_came_from(farm: CliFarm, tmp_path: Path) -> None:
    env = dict(farm.env, FOXDEN_ACCESS_KEY="fdk_wrong")
    from_env = farm.run("tasks", env=env)
    assert from_env.returncode == 1 and "FOXDEN_ACCESS_KEY" in from_env.stderr

    farm_dir = tmp_path / "up"
    farm_dir.mkdir()
    (farm_dir / "credentials.json").write_text(
        json.dumps({"render_server": farm.server.url, "account": "admin", "access_key": "fdk_x"})
    )
    plain = {k: v for k, v in farm.env.items() if not k.startswith("FOXDEN_")}
    plain.update(FOXDEN_CONFIG_DIR=str(tmp_path / "config"), FOXDEN_CACHE_DIR=str(tmp_path / "c"))
    up_user = farm.run("tasks", "--farm-dir", str(farm_dir), env=plain)
    assert up_user.returncode == 1
    assert f"'foxden up --data-dir {farm_dir}' writes its own farm's key there" in up_user.stderr

    login = farm.run(
        "login", "--server", farm.server.url, "--account", "alice", "--key", "fdk_wrong", env=plain
    )
    assert login.returncode == 1 and "refused this access key" in login.stderr
    for reply in (from_env, up_user, login):
        assert "account create" not in reply.stderr and "Traceback" not in reply.stderr


def test_account_list_is_a_table(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOXDEN_")}
    for name, admin in (("boss", ["--admin"]), ("carol", [])):
        made = subprocess.run(
            [*FOXDEN, "account", "create", name, *admin, *data],
            capture_output=True,
            text=True,
            env=env,
        )
        assert made.returncode == 0, made.stderr
    table = subprocess.run(
        [*FOXDEN, "account", "list", *data], capture_output=True, text=True, env=env
    )
    header, *rows = table.stdout.splitlines()
    assert header.split() == [
        "ACCOUNT",
        "ROLE",
        "STATE",
        "TRUSTED",
        "EMAIL",
        "CREATED",
        "LAST",
        "LOGIN",
    ]
    assert [r.split()[:4] for r in rows] == [
        ["boss", "admin", "active", "no"],
        ["carol", "user", "active", "no"],
    ]
    assert all(r.endswith("never") for r in rows)
    as_json = subprocess.run(
        [*FOXDEN, "account", "list", "--json", *data], capture_output=True, text=True, env=env
    )
    assert [a["name"] for a in json.loads(as_json.stdout)] == ["boss", "carol"]


def test_every_option_of_the_people_commands_says_what_it_does() -> None:
    import argparse

    from foxden.cli import build_parser

    commands = {"login", "upload", "submit", "tasks", "frames", "download", "projects", "render"}
    commands |= {"stop", "resume", "abort", "delete", "restart", "log", "account"}
    silent: list[str] = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    if path or name in commands:
                        walk(sub, [*path, name])
            elif not action.help and (path[0] != "account" or path[1:2] == ["list"]):
                silent.append(f"{' '.join(path)} {action.option_strings or action.dest}")

    walk(build_parser(), [])
    assert silent == []
