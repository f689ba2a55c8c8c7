"""What a job type is: the one part of foxden that knows a piece of render software.

The server uses a job type to analyse a scene (`analyse`) and to match a task to workers
(`job_type_for_software`, `detect_software`). The worker uses it to turn a chunk of frames into
processes (`commands`), to follow their output (`progress_parser`) and to find and check what they
wrote (`outputs_for`, `check_output`). A frame is done when the parser says so (or its command
ended with exit status 0) AND `check_output` accepts every file `outputs_for` finds for it; for a
job type whose chunk `expects_outputs` nothing, exit status 0 is enough.
"""

from __future__ import annotations

import re
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from PIL import Image


@dataclass(frozen=True)
class Software:
    """A render program a worker can run."""

    name: str  # the job type's name: "blender", "command"
    version: str  # "3.4.1"
    executable: str  # absolute path, or "" when there is nothing to run

    def satisfies(self, version: str | None) -> bool:
        """True if `version` (a prefix such as "3.4" or "3", None for any) matches ours."""
        if not version:
            return True
        mine = self.version.split(".")
        wanted = version.split(".")
        return mine[: len(wanted)] == wanted


@dataclass
class ChunkSpec:
    """One chunk of one task, as the worker hands it to a job type."""

    task_id: int
    scene_path: Path  # absolute local path of the scene inside the workspace
    scene_name: str  # the scene file's stem, used to name outputs
    frames: list[int]
    render_layer: str | None
    camera: str | None
    options: dict[str, Any]
    output_dir: Path  # local folder where the outputs must go
    workspace: Path  # root of the task's local mirror of the account tree
    software: Software | None = None  # the detected program to run (None: find one)
    # What the task's project allows (an admin's decision, from the lease): the scene's own
    # scripts (Blender's auto-run Python) and network access from inside the sandbox.
    allow_scripts: bool = False
    allow_network: bool = False


@dataclass
class Analysis:
    """What a scene needs (tree paths), what looked wrong while reading it, and what it offers
    to render, for the checks at submit. None means analysis could not tell (nothing is
    checked against it)."""

    dependencies: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: why the file is not this software's scene at all (submit refuses it), else None
    refusal: str | None = None
    cameras: list[str] | None = None  # the camera names a task may choose
    layers: list[str] | None = None  # the render (view) layer names a task may choose
    frame_range: tuple[int, int] | None = None  # the scene's first and last frame


@dataclass
class Command:
    """One process to run for a chunk.

    The worker runs it in a sandbox that sees the chunk's workspace (read-only), its output
    folder and `read_only` (files and folders of the software the job type needs), with `env`
    and a few basics (PATH, HOME, TMPDIR, LANG) as its whole environment."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    frames: list[int]  # the frames this process renders
    read_only: list[Path] = field(default_factory=list)  # absolute host paths


@dataclass(frozen=True)
class ProgressEvent:
    frame: int
    fraction: float  # 0..1 for this frame
    done: bool  # the program says the frame's outputs are written


class ProgressParser(Protocol):
    """Reads a command's output lines, one at a time, in order."""

    @property
    def errors(self) -> list[str]:
        """Error messages seen so far (most telling first), for the task's error report."""
        ...

    def feed(self, line: str) -> list[ProgressEvent]: ...


#: foxden's markers: a line of its own, ``FOXDEN_<TAG> [rest]`` (see `MarkerParser`).
MARKER = re.compile(r"^FOXDEN_([A-Z_]+)(?:\s+(.*))?$")
#: markers that tell the user something, and how their log shows them (the others only drive
#: progress and are left out of the log a user reads).
_SHOWN = {"WARNING": "foxden: warning: ", "ERROR": "foxden: error: ", "REMAP": "foxden: found "}


def readable_line(line: str) -> str | None:
    """A line of a renderer's output as the log a user reads shows it: foxden's progress
    markers left out (None), a warning or error marker in words, other lines as they are."""
    match = MARKER.match(line.strip())
    if match is None:
        return line
    prefix = _SHOWN.get(match.group(1))
    if prefix is None:
        return None
    rest = (match.group(2) or "").strip()
    return prefix + rest.replace(" -> ", " at ", 1) if match.group(1) == "REMAP" else prefix + rest


class MarkerParser:
    """Understands foxden's own markers, which any program may print on a line of its own:

    ``FOXDEN_FRAME_START <frame>``, ``FOXDEN_PROGRESS <frame> <fraction>``,
    ``FOXDEN_FRAME_DONE <frame> [path]`` and ``FOXDEN_ERROR <message>``.
    Fractions only grow, events come only when a frame moves by at least 1% or finishes.
    """

    _MARKER = MARKER

    def __init__(self) -> None:
        self.current: int | None = None
        self.seen_markers = False
        self._fraction: dict[int, float] = {}
        self._done: set[int] = set()
        self._errors: list[str] = []
        self._other_errors: list[str] = []

    @property
    def errors(self) -> list[str]:
        return self._errors + self._other_errors[-10:]

    def feed(self, line: str) -> list[ProgressEvent]:
        text = line.strip()
        match = self._MARKER.match(text)
        if match:
            self.seen_markers = True
            return self._marker(match.group(1), (match.group(2) or "").strip())
        return self._other(text)

    def _marker(self, tag: str, rest: str) -> list[ProgressEvent]:
        words = rest.split(maxsplit=1)
        if tag == "ERROR":
            self._errors.append(rest)
            return []
        if tag not in ("FRAME_START", "PROGRESS", "FRAME_DONE") or not words:
            return []
        try:
            frame = int(words[0])
        except ValueError:
            return []
        if tag == "FRAME_START":
            self.current = frame
            return self.progress(frame, 0.0)
        if tag == "FRAME_DONE":
            return self.finish(frame)
        try:
            fraction = float(words[1]) if len(words) > 1 else 0.0
        except ValueError:
            return []
        return self.progress(frame, fraction)

    def _other(self, text: str) -> list[ProgressEvent]:
        if text.startswith(("Error:", "ERROR", "Traceback")):
            self._other_errors.append(text)
        return []

    def progress(self, frame: int, fraction: float) -> list[ProgressEvent]:
        """An event if the frame is new or moved by at least 1% (never 1.0: see `finish`)."""
        if frame in self._done:
            return []
        fraction = max(0.0, min(fraction, 0.99))
        old = self._fraction.get(frame)
        if old is not None and fraction < old + 0.01:
            return []
        self._fraction[frame] = fraction
        return [ProgressEvent(frame, fraction, False)]

    def finish(self, frame: int) -> list[ProgressEvent]:
        if frame in self._done:
            return []
        self._done.add(frame)
        self._fraction[frame] = 1.0
        return [ProgressEvent(frame, 1.0, True)]


class JobType(ABC):
    """A kind of job; one instance serves every task (keep no per-task state on it)."""

    name: ClassVar[str]

    @abstractmethod
    def detect(self, executable: str | None = None) -> list[Software]:
        """The installed versions of this software (`executable`: a configured path)."""

    @abstractmethod
    def analyse(self, scene_file: Path, scene_tree_path: str) -> Analysis:
        """Read a scene: its dependencies as tree paths, warnings, and what it offers to
        render. Never raises for a bad scene file: that is a warning, or the analysis's
        `refusal` when the file is not this software's scene at all."""

    @abstractmethod
    def commands(self, chunk: ChunkSpec) -> list[Command]:
        """The processes that render the chunk, to run one after the other."""

    @abstractmethod
    def progress_parser(self, chunk: ChunkSpec) -> ProgressParser:
        """A fresh parser for the output of the chunk's commands."""

    @abstractmethod
    def outputs_for(self, chunk: ChunkSpec, frame: int) -> list[Path]:
        """The files written for one frame (after it was rendered), sorted."""

    def expects_outputs(self, chunk: ChunkSpec) -> bool:
        """False when a chunk's frames are done on exit status 0 without any output file."""
        return True

    def check_output(self, path: Path) -> str | None:
        """None if the output file is good, else why not."""
        return check_image(path)


# -- output checks --------------------------------------------------------------------------

# Formats Pillow cannot read, recognised by their first bytes instead.
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "OpenEXR": (b"\x76\x2f\x31\x01",),
    "Radiance HDR": (b"#?RADIANCE", b"#?RGBE"),
    "DPX": (b"SDPX", b"XPDS"),
    "Cineon": (b"\x80\x2a\x5f\xd7", b"\xd7\x5f\x2a\x80"),
}


def check_image(path: Path) -> str | None:
    """None if `path` is a readable image (EXR, HDR, DPX, Cineon: right magic bytes)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"output {path.name} is missing ({exc.strerror})"
    if not path.is_file():
        return f"output {path.name} is not a file"
    if size == 0:
        return f"output {path.name} is empty"
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        return f"output {path.name} cannot be read: {exc}"
    for magic in _MAGIC.values():
        if head.startswith(magic):
            return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.verify()  # chunk checksums (PNG) and structure
            with Image.open(path) as img:
                img.load()  # every pixel decodes: catches truncated files
    except Image.DecompressionBombError:
        return None  # far too big to decode here, but its header is a valid image
    except Exception as exc:
        return f"output {path.name} is not a readable image: {exc}"
    return None
