"""Fixtures for the job type tests: real test scenes built once by the real Blender."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from foxden.jobtypes import ChunkSpec, ProgressEvent, get_job_type
from foxden.jobtypes.base import ProgressParser
from foxden.worker.process import ProcessResult, run_process
from tests.scenes import make_scenes

SHOT = "v/project/shot"  # the scenes' folder inside a workspace (tree path /v/project/shot)


@pytest.fixture(scope="session")
def scene_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding the test scenes at /v/project/shot/{anim,missing_tex,...}.blend."""
    workspace = tmp_path_factory.mktemp("workspace")
    make_scenes(workspace / SHOT)
    return workspace


@dataclass
class Rendered:
    results: list[ProcessResult]
    lines: list[str]
    events: list[ProgressEvent]
    parser: ProgressParser
    chunk: ChunkSpec
    outputs: dict[int, list[Path]] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def done_frames(self) -> list[int]:
        return [e.frame for e in self.events if e.done]


def make_chunk(
    workspace: Path,
    scene: str,
    frames: list[int],
    output_dir: Path,
    render_layer: str | None = None,
    camera: str | None = None,
    allow_scripts: bool = False,
    **options: Any,
) -> ChunkSpec:
    scene_path = workspace / SHOT / f"{scene}.blend"
    return ChunkSpec(
        task_id=1,
        scene_path=scene_path,
        scene_name=scene_path.stem,
        frames=frames,
        render_layer=render_layer,
        camera=camera,
        options=options,
        output_dir=output_dir,
        workspace=workspace,
        allow_scripts=allow_scripts,
    )


def render(chunk: ChunkSpec, should_stop: Callable[[], bool] | None = None) -> Rendered:
    """Render a chunk the way the worker does: job type commands through run_process."""
    job_type = get_job_type("blender")
    parser = job_type.progress_parser(chunk)
    rendered = Rendered([], [], [], parser, chunk)

    def on_line(line: str) -> None:
        rendered.lines.append(line)
        rendered.events.extend(parser.feed(line))

    for command in job_type.commands(chunk):
        rendered.results.append(
            run_process(command.argv, command.cwd, command.env, on_line, should_stop)
        )
    rendered.outputs = {f: job_type.outputs_for(chunk, f) for f in chunk.frames}
    return rendered


@pytest.fixture
def render_chunk(scene_workspace: Path, tmp_path: Path) -> Iterator[Callable[..., Rendered]]:
    counter = iter(range(1000))

    def run(scene: str, frames: list[int], **kw: Any) -> Rendered:
        out = tmp_path / f"out{next(counter)}"
        workspace = kw.pop("workspace", scene_workspace)
        return render(make_chunk(workspace, scene, frames, out, **kw))

    yield run
