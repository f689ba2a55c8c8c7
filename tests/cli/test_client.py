"""The `foxden` commands for people, run in-process against a live farm."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from foxden.cli import main
from tests.client.conftest import SimFarm


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_login_upload_submit_list_download(
    sim_farm: SimFarm, project_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "login", "--server", sim_farm.url, "--account", "alice", "--key", "wrong"
    )
    assert code == 1 and "access key" in err
    code, out, _ = run(
        capsys, "login", "--server", sim_farm.url, "--account", "alice", "--key", sim_farm.key
    )
    assert code == 0 and "logged in as alice" in out
    saved = tmp_path / "config" / "client.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600

    assert run(capsys, "projects", "create", "api", "--software", "command 1")[0] == 0
    code, out, _ = run(capsys, "projects", "--json")
    assert json.loads(out)[0]["project_name"] == "api"
    code, out, _ = run(capsys, "projects")
    assert "api" in out and "command 1" in out

    code, out, _ = run(capsys, "upload", str(project_tree), "--json")
    assert code == 0 and json.loads(out)["files_sent"] == 7
    code, out, _ = run(capsys, "upload", str(project_tree))
    assert "uploaded 0 file(s), 0 B; 7 of 7 already there" in out

    scene = str(project_tree / "shot" / "lgt.ma")
    code, out, _ = run(
        capsys,
        "submit",
        "--project",
        "api",
        "--scene",
        scene,
        "--frames",
        "1-3",
        "--camera",
        "CamB",
        "--option",
        "note=hello",
    )
    task_id = int(out.split()[1])
    assert out.startswith(f"task {task_id} queued: lgt.ma frames 1-3 (3 frames) in project api")
    code, out, err = run(
        capsys, "render", scene, "--project", "api", "--frames", "4,5", "--out", str(tmp_path / "r")
    )
    assert code == 0, err
    assert "2 frame(s) in" in out
    code, out, _ = run(capsys, "tasks", "--json")
    tasks = json.loads(out)
    assert {t["id"] for t in tasks} >= {task_id}
    first = next(t for t in tasks if t["id"] == task_id)
    assert first["camera"] == "CamB" and first["options"]["note"] == "hello"
    code, out, _ = run(capsys, "tasks", "--project", "api", "--status", "done")
    assert out.splitlines()[0].startswith("ID")

    code, out, _ = run(capsys, "frames", str(task_id), "--json")
    assert [f["number"] for f in json.loads(out)] == [1, 2, 3]
    code, out, _ = run(capsys, "frames", str(task_id))
    assert "lgt_0001.png" in out

    dest = tmp_path / "down"
    code, out, _ = run(capsys, "download", str(task_id), "--out", str(dest))
    assert code == 0 and "downloaded 3 file(s)" in out
    assert len(list(dest.rglob("*.png"))) == 3
    code, out, _ = run(capsys, "download", str(task_id), "--out", str(dest), "--json")
    assert json.loads(out)["files_fetched"] == 0


def test_render_reads_farm_credentials(
    sim_farm: SimFarm, project_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    farm_dir = tmp_path / "farm"
    farm_dir.mkdir()
    (farm_dir / "credentials.json").write_text(
        json.dumps({"render_server": sim_farm.url, "account": "alice", "access_key": sim_farm.key})
    )
    code, _, err = run(
        capsys,
        "render",
        str(project_tree / "shot" / "lgt.ma"),
        "--frames",
        "1",
        "--farm-dir",
        str(farm_dir),
    )
    assert code == 1 and "no worker of this farm offers Blender: start the farm with a" in err
    run(capsys, "projects", "create", "p", "--software", "command 1", "--farm-dir", str(farm_dir))
    code, _out, err = run(
        capsys,
        "render",
        str(project_tree / "shot" / "lgt.ma"),
        "--frames",
        "1-2",
        "--project",
        "p",
        "--farm-dir",
        str(farm_dir),
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 0, err
    assert len(list((tmp_path / "o").rglob("*.png"))) == 2


def test_render_without_blender_on_a_team_farm_points_to_the_administrator(
    sim_farm: SimFarm, project_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "login", "--server", sim_farm.url, "--account", "alice", "--key", sim_farm.key)
    code, _, err = run(capsys, "render", str(project_tree / "shot" / "lgt.ma"), "--frames", "1")
    assert code == 1 and "ask the farm's administrator to start a render node" in err
    assert "foxden up" not in err


def test_not_logged_in(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "tasks")
    assert code == 1 and "foxden login" in err
