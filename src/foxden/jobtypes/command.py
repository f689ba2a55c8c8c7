"""The command job type: run any program, for benchmarks and generic jobs.

Chunk options:

* ``command`` (list of str, required): the argv. Placeholders ``{frame}``, ``{start}``, ``{end}``,
  ``{step}``, ``{output_dir}``, ``{scene}`` and ``{workspace}`` are replaced, with an optional
  Python format spec (``{frame:04d}``); other braces are left alone. With ``{frame}`` there is
  one process per frame; otherwise one per run of evenly spaced frames (usually the whole chunk).
* ``outputs`` (str): a glob under the output folder naming one frame's files, with the same
  placeholders (``"img_{frame:04d}.*"``). Default: files whose name has the frame number padded
  to 4 digits as a whole number (``x_0012.png`` for frame 12, not ``x_00120.png``).
* ``expect_outputs`` (bool, default true): false means frames are done when the process exits
  with status 0, without output files.
* ``env`` (dict of str): extra environment variables. The process also gets FOXDEN_OUTPUT_DIR,
  FOXDEN_WORKSPACE, FOXDEN_FRAMES (comma separated) and FOXDEN_TASK_ID.

The command runs in the worker's sandbox like every renderer: it sees the system (``/usr``),
the workspace read-only and the output folder, and nothing of the worker; its program must be
a system program (found on PATH, e.g. ``sh`` or ``python3``) or a file of the workspace.

The process may print foxden's markers (see `MarkerParser`) for finer progress.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from foxden.errors import BadRequest
from foxden.jobtypes.base import (
    Analysis,
    ChunkSpec,
    Command,
    JobType,
    MarkerParser,
    Software,
    check_image,
)

PLACEHOLDER = re.compile(r"\{(frame|start|end|step|output_dir|scene|workspace)(?::([^{}]*))?\}")
_IMAGE_SUFFIXES = {
    ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".bmp", ".tga", ".webp", ".hdr", ".dpx",
    ".cin", ".jp2", ".sgi", ".rgb",
}  # fmt: skip


def fill(template: str, values: dict[str, Any]) -> str:
    """Replace foxden's placeholders in one argument."""

    def one(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        if value is None:
            raise BadRequest(
                f"placeholder {{{match.group(1)}}} in {template!r} cannot be used here"
            )
        try:
            return format(value, match.group(2) or "")
        except ValueError as exc:
            raise BadRequest(f"placeholder {match.group(0)} in {template!r}: {exc}") from None

    return PLACEHOLDER.sub(one, template)


def runs(frames: list[int]) -> list[list[int]]:
    """Split frames (in order) into runs with one step each: [1,2,3,7,9] -> [[1,2,3],[7,9]]."""
    out: list[list[int]] = []
    for frame in frames:
        if out:
            run = out[-1]
            if len(run) == 1 and frame > run[0]:
                run.append(frame)
                continue
            if len(run) > 1 and frame - run[-1] == run[1] - run[0]:
                run.append(frame)
                continue
        out.append([frame])
    return out


class CommandJobType(JobType):
    name = "command"

    def detect(self, executable: str | None = None) -> list[Software]:
        return [Software(self.name, "1", "")]

    def analyse(self, scene_file: Path, scene_tree_path: str) -> Analysis:
        return Analysis()

    def _argv(self, chunk: ChunkSpec) -> list[str]:
        argv = chunk.options.get("command")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise BadRequest('a command job needs options["command"]: a list of strings')
        return argv

    def commands(self, chunk: ChunkSpec) -> list[Command]:
        argv = self._argv(chunk)
        if not chunk.frames:
            raise BadRequest("a chunk needs at least one frame")
        extra = chunk.options.get("env") or {}
        if not isinstance(extra, dict):
            raise BadRequest('options["env"] must map names to strings')
        env = {str(k): str(v) for k, v in extra.items()}
        env.update(
            FOXDEN_OUTPUT_DIR=str(chunk.output_dir),
            FOXDEN_WORKSPACE=str(chunk.workspace),
            FOXDEN_TASK_ID=str(chunk.task_id),
        )
        per_frame = any(m.group(1) == "frame" for a in argv for m in PLACEHOLDER.finditer(a))
        groups = [[f] for f in chunk.frames] if per_frame else runs(list(chunk.frames))
        chunk.output_dir.mkdir(parents=True, exist_ok=True)
        commands = []
        for frames in groups:
            values = self._values(chunk, frames)
            commands.append(
                Command(
                    [fill(a, values) for a in argv],
                    chunk.workspace,
                    {**env, "FOXDEN_FRAMES": ",".join(map(str, frames))},
                    frames,
                )
            )
        return commands

    def _values(self, chunk: ChunkSpec, frames: list[int]) -> dict[str, Any]:
        return {
            "frame": frames[0] if len(frames) == 1 else None,
            "start": frames[0],
            "end": frames[-1],
            "step": frames[1] - frames[0] if len(frames) > 1 else 1,
            "output_dir": str(chunk.output_dir),
            "scene": str(chunk.scene_path),
            "workspace": str(chunk.workspace),
        }

    def progress_parser(self, chunk: ChunkSpec) -> MarkerParser:
        return MarkerParser()

    def expects_outputs(self, chunk: ChunkSpec) -> bool:
        return bool(chunk.options.get("expect_outputs", True))

    def outputs_for(self, chunk: ChunkSpec, frame: int) -> list[Path]:
        if not self.expects_outputs(chunk):
            return []
        pattern = chunk.options.get("outputs")
        glob = fill(str(pattern), self._values(chunk, [frame])) if pattern else None
        if glob is not None and (glob.startswith(("/", "\\")) or ".." in re.split(r"[\\/]", glob)):
            raise BadRequest(f'options["outputs"] {pattern!r} must stay in the output folder')
        if not chunk.output_dir.is_dir():
            return []
        if glob is not None:
            return sorted(p for p in chunk.output_dir.glob(glob) if p.is_file())
        padded = f"{frame:04d}"
        return sorted(
            p
            for p in chunk.output_dir.iterdir()
            if p.is_file() and padded in re.findall(r"\d+", p.name)
        )

    def check_output(self, path: Path) -> str | None:
        if path.suffix.lower() in _IMAGE_SUFFIXES:
            return check_image(path)
        if not path.is_file():
            return f"output {path.name} is missing"
        return None
