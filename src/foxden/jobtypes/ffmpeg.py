"""The ffmpeg job type: encode a task's rendered frames into a movie (H.264 MP4 or ProRes MOV).

A movie task (`foxden.farm.movies` makes it) has one frame, number `MOVIE_FRAME`, and its inputs
are the frames of the task it was made of, laid out as one numbered sequence
(``/frames/shot_0001.png`` ...). Its options say how to encode them, in ``options["movie"]``:

* ``codec``: ``h264`` (an MP4 in yuv420p, the size padded to even numbers, which H.264 needs)
  or ``prores`` (a ProRes 422 HQ .mov);
* ``fps``: frames per second (the scene's, else 24);
* ``frames_dir``, ``pattern``, ``start``, ``count``: where the sequence is in the workspace, its
  printf-style name (``shot_%04d.png``), first number and length (`sequence_pattern`);
* ``name``: the movie's file name in the output folder (``shot.mp4``).

The command is an argv list built here from those options only (nothing of it comes from the
user as text), run in the worker's sandbox like every renderer. Progress comes from ffmpeg's
``-progress pipe:1`` (``frame=N`` lines, N of ``count``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from foxden.errors import BadRequest
from foxden.jobtypes.base import (
    Analysis,
    ChunkSpec,
    Command,
    JobType,
    MarkerParser,
    ProgressEvent,
    Software,
)

#: the one frame of a movie task
MOVIE_FRAME = 1
#: frames per second when neither the task nor its scene says
DEFAULT_FPS = 24.0
MAX_FPS = 240.0
#: the codecs a movie may have, with the movie's file extension
CODECS = {"h264": ".mp4", "prores": ".mov"}
#: image files ffmpeg reads as a sequence
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".bmp", ".tga", ".dpx")

_CODEC_ARGS = {
    # yuv420p: what every player plays; even width and height: what 4:2:0 needs (padded)
    "h264": [
        "-c:v", "libx264", "-preset", "medium", "-crf", "18", "-pix_fmt", "yuv420p",
        "-movflags", "+faststart",
    ],
    # ProRes 422 HQ (profile 3), 10-bit 4:2:2
    "prores": ["-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le"],
}  # fmt: skip
_EVEN = "pad=ceil(iw/2)*2:ceil(ih/2)*2"
_VERSION = re.compile(r"ffmpeg version n?(\d+(?:\.\d+)*)")
#: a frame number in a file name: the last run of digits before the extension
NUMBERED = re.compile(r"^(?P<head>.*?)(?P<digits>\d+)(?P<tail>\.[A-Za-z0-9]+)$")


@dataclass(frozen=True)
class Sequence:
    """A numbered image sequence: printf-style `pattern`, first number, how many, and the name
    each frame (in order) has in the sequence."""

    pattern: str  # "shot_%04d.png"
    start: int
    names: list[str]

    @property
    def count(self) -> int:
        return len(self.names)


def sequence_pattern(names: list[str]) -> Sequence:
    """The image sequence made of the frames named `names` (output file names in frame order):
    ``shot_0001.png, shot_0002.png`` -> ``shot_%04d.png`` from 1. Frames with gaps between
    their numbers (rendered every other frame, or some missing) are numbered on from the first,
    so the movie shows each rendered frame once; the names keep the outputs' prefix, padding and
    extension. ValueError saying why when the names are not one numbered sequence."""
    if not names:
        raise ValueError("there are no frames to make a movie of")
    parts = []
    for name in names:
        match = NUMBERED.match(PurePosixPath(name).name)
        if match is None:
            raise ValueError(f"{name!r} has no frame number before its extension")
        parts.append(match)
    head, tail = parts[0]["head"], parts[0]["tail"]
    if tail.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"{names[0]!r} is not an image ffmpeg reads as a sequence")
    if any(p["head"] != head or p["tail"] != tail for p in parts):
        raise ValueError(f"the frames are not one sequence (they start {head!r} and {tail!r})")
    width = len(parts[0]["digits"]) if parts[0]["digits"].startswith("0") else 1
    width = max(width, min(len(p["digits"]) for p in parts))
    start = int(parts[0]["digits"])
    safe_head = head.replace("%", "%%")
    pattern = f"{safe_head}%0{width}d{tail}" if width > 1 else f"{safe_head}%d{tail}"
    numbers = [int(p["digits"]) for p in parts]
    if numbers == list(range(start, start + len(numbers))):
        renamed = [PurePosixPath(n).name for n in names]
    else:
        renamed = [f"{head}{start + i:0{width}d}{tail}" for i in range(len(names))]
    return Sequence(pattern, start, renamed)


def codec_of(value: Any) -> str:
    """A movie's codec from what a user gave (true or '' means H.264); 400 for another."""
    if value is True or value in (None, "", 1):
        return "h264"
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "mp4", "h.264"):
        return "h264"
    if text in ("mov", "prores422", "prores_hq"):
        return "prores"
    if text not in CODECS:
        raise BadRequest(f"a movie's codec is one of {', '.join(CODECS)}, not {value!r}")
    return text


def fps_of(value: Any) -> float | None:
    """A frame rate if `value` is one (a number in (0, 240]), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        fps = float(value)
    except ValueError:
        return None
    return fps if 0 < fps <= MAX_FPS else None


def _spec(options: dict[str, Any]) -> dict[str, Any]:
    spec = options.get("movie")
    if isinstance(spec, dict) and spec.get("problem"):
        raise BadRequest(f"{spec['problem']} (make a movie again once it has rendered frames)")
    if not isinstance(spec, dict) or "pattern" not in spec:
        raise BadRequest(
            "this movie task has no frames to encode: the task it was made of rendered none "
            "(make a movie again once it has rendered frames)"
        )
    return spec


def encode_argv(ffmpeg: str, spec: dict[str, Any], frames_dir: Path, out_dir: Path) -> list[str]:
    """The ffmpeg command that encodes the sequence `spec` describes (`options["movie"]`) from
    `frames_dir` into its movie in `out_dir`."""
    codec = codec_of(spec.get("codec"))
    fps = fps_of(spec.get("fps")) or DEFAULT_FPS
    pattern = str(spec["pattern"])
    if "/" in pattern or pattern.startswith("."):
        raise BadRequest(f"the movie's frame pattern {pattern!r} must be a file name")
    count = int(spec["count"])
    return [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-y",
        "-progress",
        "pipe:1",
        "-framerate",
        f"{fps:g}",
        "-start_number",
        str(int(spec["start"])),
        "-i",
        str(frames_dir / pattern),
        "-frames:v",
        str(count),
        "-vf",
        _EVEN,
        *_CODEC_ARGS[codec],
        "-r",
        f"{fps:g}",
        str(out_dir / movie_name(spec)),
    ]


def movie_name(spec: dict[str, Any]) -> str:
    """The movie's file name: `spec["name"]` (a plain name) with the codec's extension."""
    stem = PurePosixPath(str(spec.get("name") or "movie")).stem
    stem = re.sub(r"[^\w.-]+", "_", stem).strip("._") or "movie"
    return stem + CODECS[codec_of(spec.get("codec"))]


class FfmpegProgressParser(MarkerParser):
    """ffmpeg's ``-progress`` lines (``frame=12``, ``progress=end``) and stats lines
    (``frame=   12 fps=...``) as the movie frame's fraction; its error lines as errors."""

    _FRAME = re.compile(r"^frame=\s*(\d+)")
    _ERROR = re.compile(
        r"No such file or directory|Invalid data found|Error |error while|Unknown encoder|"
        r"Could not|could not|Impossible to open|Conversion failed|Permission denied|"
        r"does not contain any stream|not divisible by 2|Cannot allocate memory",
    )

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = max(1, count)
        self.current = MOVIE_FRAME

    def _other(self, text: str) -> list[ProgressEvent]:
        match = self._FRAME.match(text)
        if match:
            return self.progress(MOVIE_FRAME, int(match.group(1)) / self.count)
        if self._ERROR.search(text) and text not in self._errors:
            # "Conversion failed!" only says that something before it did: last
            (self._other_errors if "Conversion failed" in text else self._errors).append(text)
        return []


class FfmpegJobType(JobType):
    name = "ffmpeg"

    def detect(self, executable: str | None = None) -> list[Software]:
        exe = executable or shutil.which("ffmpeg")
        if not exe:
            return []
        try:
            proc = subprocess.run(
                [exe, "-hide_banner", "-version"],
                capture_output=True,
                text=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return []
        match = _VERSION.search(proc.stdout)
        if proc.returncode != 0 or match is None:
            return []
        return [Software(self.name, match.group(1), str(Path(exe).resolve()))]

    def analyse(self, scene_file: Path, scene_tree_path: str) -> Analysis:
        return Analysis()  # a movie task is made by foxden, never submitted as a scene

    def _frames_dir(self, chunk: ChunkSpec, spec: dict[str, Any]) -> Path:
        folder = str(spec.get("frames_dir") or "/frames")
        parts = PurePosixPath(folder).parts
        if ".." in parts:
            raise BadRequest(f"the movie's frames folder {folder!r} must stay in the workspace")
        return chunk.workspace.joinpath(*[p for p in parts if p != "/"])

    def commands(self, chunk: ChunkSpec) -> list[Command]:
        spec = _spec(chunk.options)
        exe = chunk.software.executable if chunk.software else shutil.which("ffmpeg")
        if not exe:
            raise BadRequest("ffmpeg is not installed on this worker")
        chunk.output_dir.mkdir(parents=True, exist_ok=True)
        argv = encode_argv(exe, spec, self._frames_dir(chunk, spec), chunk.output_dir)
        return [Command(argv, chunk.output_dir, {}, [MOVIE_FRAME])]

    def progress_parser(self, chunk: ChunkSpec) -> FfmpegProgressParser:
        spec = chunk.options.get("movie")
        count = int(spec.get("count") or 1) if isinstance(spec, dict) else 1
        return FfmpegProgressParser(count)

    def outputs_for(self, chunk: ChunkSpec, frame: int) -> list[Path]:
        path = chunk.output_dir / movie_name(_spec(chunk.options))
        return [path] if path.is_file() else []

    def check_output(self, path: Path) -> str | None:
        """None for a movie ffmpeg finished: an ISO media file (MP4, MOV) starts with `ftyp`."""
        try:
            with path.open("rb") as fh:
                head = fh.read(12)
        except OSError as exc:
            return f"output {path.name} is missing ({exc.strerror})"
        if len(head) < 12 or head[4:8] != b"ftyp":
            return f"output {path.name} is not a finished movie (no 'ftyp' box at its start)"
        return None
