"""The command job type: placeholders, one process per frame or per run, outputs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from foxden.errors import BadRequest
from foxden.jobtypes import ChunkSpec, get_job_type
from foxden.jobtypes.command import fill, runs
from foxden.worker.process import run_process

JOB = get_job_type("command")


def chunk(tmp_path: Path, frames: list[int], **options: Any) -> ChunkSpec:
    return ChunkSpec(
        task_id=7,
        scene_path=tmp_path / "ws/v/p/scene.txt",
        scene_name="scene",
        frames=frames,
        render_layer=None,
        camera=None,
        options=options,
        output_dir=tmp_path / "out",
        workspace=tmp_path / "ws",
    )


def test_one_command_per_frame_with_frame_placeholder(tmp_path: Path) -> None:
    c = chunk(tmp_path, [1, 2, 10], command=["render", "-f", "{frame}", "-o", "{output_dir}/img_{frame:04d}.png", "awk '{print}'"])  # fmt: skip
    cmds = JOB.commands(c)
    assert [cmd.frames for cmd in cmds] == [[1], [2], [10]]
    assert cmds[2].argv == ["render", "-f", "10", "-o", f"{c.output_dir}/img_0010.png", "awk '{print}'"]  # fmt: skip
    assert cmds[0].cwd == c.workspace
    assert cmds[0].env["FOXDEN_FRAMES"] == "1" and cmds[0].env["FOXDEN_TASK_ID"] == "7"
    assert c.output_dir.is_dir()


def test_one_command_per_evenly_spaced_run(tmp_path: Path) -> None:
    c = chunk(tmp_path, [1, 3, 5, 6, 20], command=["r", "{start}-{end}:{step}", "{scene}"])
    cmds = JOB.commands(c)
    assert [cmd.argv[1] for cmd in cmds] == ["1-5:2", "6-20:14"]
    assert [cmd.frames for cmd in cmds] == [[1, 3, 5], [6, 20]]
    assert cmds[0].argv[2] == str(c.scene_path)
    assert runs([4]) == [[4]]
    assert runs([1, 2, 3, 7, 9, 11, 12]) == [[1, 2, 3], [7, 9, 11], [12]]


def test_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BadRequest, match="list of strings"):
        JOB.commands(chunk(tmp_path, [1], command="echo hi"))
    with pytest.raises(BadRequest, match="frame:zz"):
        fill("{frame:zz}", {"frame": 3})
    with pytest.raises(BadRequest, match="output folder"):
        JOB.outputs_for(chunk(tmp_path, [1], command=["x"], outputs="../*"), 1)


def test_outputs_match_the_whole_padded_frame_number(tmp_path: Path) -> None:
    c = chunk(tmp_path, [12], command=["x"])
    c.output_dir.mkdir()
    for name in ("a_0012.png", "a_00120.png", "b.0012.exr", "a_0013.png", "log.txt"):
        (c.output_dir / name).write_bytes(b"x")
    assert [p.name for p in JOB.outputs_for(c, 12)] == ["a_0012.png", "b.0012.exr"]
    pattern = chunk(tmp_path, [12], command=["x"], outputs="a_{frame:05d}.*")
    assert [p.name for p in JOB.outputs_for(pattern, 120)] == ["a_00120.png"]


def test_runs_and_checks_real_outputs(tmp_path: Path) -> None:
    maker = (
        "import sys; from PIL import Image; f = int(sys.argv[1]); "
        "print('FOXDEN_PROGRESS', f, 0.5, flush=True); "
        "Image.new('RGB', (4, 4), (f, 0, 0)).save(f'{sys.argv[2]}/frame_{f:04d}.png')"
    )
    c = chunk(tmp_path, [1, 2], command=[sys.executable, "-c", maker, "{frame}", "{output_dir}"])
    c.workspace.mkdir()
    parser = JOB.progress_parser(c)
    events = []
    for cmd in JOB.commands(c):
        result = run_process(
            cmd.argv, cmd.cwd, cmd.env, lambda line: events.extend(parser.feed(line))
        )
        assert result.returncode == 0
    assert [(e.frame, e.fraction) for e in events] == [(1, 0.5), (2, 0.5)]
    for frame in (1, 2):
        (path,) = JOB.outputs_for(c, frame)
        assert JOB.check_output(path) is None
    broken = c.output_dir / "frame_0003.png"
    broken.write_bytes((c.output_dir / "frame_0001.png").read_bytes()[:30])
    assert "not a readable image" in (JOB.check_output(broken) or "")
    (c.output_dir / "result_0003.txt").write_text("42")
    assert JOB.check_output(c.output_dir / "result_0003.txt") is None
    assert "missing" in (JOB.check_output(c.output_dir / "nope.txt") or "")


def test_no_outputs_expected(tmp_path: Path) -> None:
    c = chunk(tmp_path, [1], command=["true"], expect_outputs=False)
    assert not JOB.expects_outputs(c)
    assert JOB.outputs_for(c, 1) == []
    assert JOB.expects_outputs(chunk(tmp_path, [1], command=["true"]))
    Image.new("RGB", (1, 1)).save(tmp_path / "unused.png")
