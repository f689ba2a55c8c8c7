"""The ffmpeg job type: the frame pattern from the outputs' names, the command per codec and
frame rate, the progress parser, detection, and a real encode checked with ffprobe."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from foxden.core.failures import Category, classify
from foxden.errors import BadRequest
from foxden.jobtypes import get_job_type
from foxden.jobtypes.base import ChunkSpec
from foxden.jobtypes.ffmpeg import (
    FfmpegJobType,
    FfmpegProgressParser,
    codec_of,
    encode_argv,
    sequence_pattern,
)


def _spec(**extra: Any) -> dict[str, Any]:
    return {
        "codec": "h264",
        "fps": 24,
        "pattern": "shot_%04d.png",
        "start": 1,
        "count": 3,
        "name": "shot.mp4",
        **extra,
    }


def test_pattern_from_the_outputs_names() -> None:
    seq = sequence_pattern(["a/shot_0001.png", "a/shot_0002.png", "a/shot_0003.png"])
    assert (seq.pattern, seq.start, seq.count) == ("shot_%04d.png", 1, 3)
    assert seq.names == ["shot_0001.png", "shot_0002.png", "shot_0003.png"]
    # unpadded numbers, a start past 1, and a '%' in the name (escaped for ffmpeg)
    seq = sequence_pattern(["v2%_8.exr", "v2%_9.exr", "v2%_10.exr"])
    assert (seq.pattern, seq.start, seq.names[-1]) == ("v2%%_%d.exr", 8, "v2%_10.exr")
    # every other frame rendered: renumbered on from the first, each shown once
    seq = sequence_pattern(["s_0010.png", "s_0012.png", "s_0014.png"])
    assert (seq.pattern, seq.start) == ("s_%04d.png", 10)
    assert seq.names == ["s_0010.png", "s_0011.png", "s_0012.png"]


@pytest.mark.parametrize(
    ("names", "why"),
    [
        ([], "no frames"),
        (["shot.png"], "no frame number"),
        (["shot_0001.blend"], "not an image"),
        (["a_0001.png", "b_0002.png"], "not one sequence"),
    ],
)
def test_pattern_refuses_what_is_not_a_sequence(names: list[str], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        sequence_pattern(names)


def test_h264_command() -> None:
    argv = encode_argv("/usr/bin/ffmpeg", _spec(fps=25), Path("/ws/frames"), Path("/out"))
    assert argv[0] == "/usr/bin/ffmpeg"
    assert argv[argv.index("-framerate") + 1] == "25"
    assert argv[argv.index("-start_number") + 1] == "1"
    assert argv[argv.index("-i") + 1] == "/ws/frames/shot_%04d.png"
    assert argv[argv.index("-frames:v") + 1] == "3"
    assert argv[argv.index("-c:v") + 1] == "libx264"
    assert argv[argv.index("-pix_fmt") + 1] == "yuv420p"
    assert "ceil(iw/2)*2" in argv[argv.index("-vf") + 1]  # even width and height
    assert argv[argv.index("-progress") + 1] == "pipe:1"
    assert argv[-1] == "/out/shot.mp4"


def test_prores_command_and_fractional_fps() -> None:
    argv = encode_argv("ffmpeg", _spec(codec="prores", fps=29.97), Path("/ws/frames"), Path("/out"))
    assert argv[argv.index("-c:v") + 1] == "prores_ks"
    assert argv[argv.index("-pix_fmt") + 1] == "yuv422p10le"
    assert argv[argv.index("-framerate") + 1] == "29.97"
    assert argv[-1] == "/out/shot.mov"


def test_missing_fps_is_24_and_a_bad_codec_is_refused() -> None:
    argv = encode_argv("ffmpeg", _spec(fps=None), Path("/f"), Path("/o"))
    assert argv[argv.index("-framerate") + 1] == "24"
    assert codec_of(True) == "h264" and codec_of("ProRes") == "prores"
    with pytest.raises(BadRequest, match="h264, prores"):
        codec_of("gif")
    with pytest.raises(BadRequest, match="must be a file name"):
        encode_argv("ffmpeg", _spec(pattern="../x_%04d.png"), Path("/f"), Path("/o"))


def test_progress_from_progress_lines_and_stats() -> None:
    parser = FfmpegProgressParser(count=10)
    assert parser.feed("frame=5")[0].fraction == pytest.approx(0.5)
    assert parser.feed("fps=0.0") == []
    event = parser.feed("frame=   9 fps=3.1 q=28.0 size=  1kB time=00:00:00.33")[0]
    assert event.fraction == pytest.approx(0.9) and not event.done
    assert parser.feed("frame=10")[0].fraction == pytest.approx(0.99)  # done: by exit status
    assert parser.current == 1


def test_errors_most_telling_first_and_classified() -> None:
    parser = FfmpegProgressParser(count=3)
    parser.feed("Conversion failed!")
    parser.feed("/ws/frames/shot_0001.png: Invalid data found when processing input")
    assert parser.errors[0].endswith("Invalid data found when processing input")
    assert parser.errors[-1] == "Conversion failed!"
    assert classify("ffmpeg exited with status 1: " + parser.errors[0]) is Category.CORRUPT_INPUT
    missing = "/ws/frames/shot_%04d.png: No such file or directory"
    assert classify(f"ffmpeg exited with status 1: {missing}") is Category.MISSING_INPUT


def test_detects_the_installed_ffmpeg() -> None:
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is not installed: this test needs the real ffmpeg")
    found = get_job_type("ffmpeg").detect()
    assert len(found) == 1 and found[0].name == "ffmpeg"
    assert found[0].version[0].isdigit() and Path(found[0].executable).is_file()
    assert FfmpegJobType().detect("/nonexistent/ffmpeg") == []


def test_a_chunk_without_frames_says_why(tmp_path: Path) -> None:
    chunk = _chunk(tmp_path, {"movie": {"problem": "task 4 has no frames to make a movie of"}})
    with pytest.raises(BadRequest, match="task 4 has no frames"):
        FfmpegJobType().commands(chunk)


def _chunk(tmp_path: Path, options: dict[str, Any]) -> ChunkSpec:
    return ChunkSpec(
        task_id=7,
        scene_path=tmp_path / "ws" / "shot.blend",
        scene_name="shot",
        frames=[1],
        render_layer=None,
        camera=None,
        options=options,
        output_dir=tmp_path / "out",
        workspace=tmp_path / "ws",
    )


def test_real_encode_of_an_odd_sized_sequence(tmp_path: Path) -> None:
    """ffmpeg itself (no sandbox here: the farm's end-to-end test runs it in one) encodes the
    command's movie: ffprobe finds H.264 in yuv420p, every frame, the size made even."""
    frames = tmp_path / "ws" / "frames"
    frames.mkdir(parents=True)
    for i in range(1, 6):
        Image.new("RGB", (33, 21), (i * 40, 0, 0)).save(frames / f"shot_{i:04d}.png")
    job = FfmpegJobType()
    chunk = _chunk(tmp_path, {"movie": {**_spec(count=5, fps=12), "frames_dir": "/frames"}})
    (command,) = job.commands(chunk)
    proc = subprocess.run(command.argv, capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    parser = job.progress_parser(chunk)
    fractions = [e.fraction for line in proc.stdout.splitlines() for e in parser.feed(line)]
    assert fractions and fractions[-1] == pytest.approx(0.99)
    (movie,) = job.outputs_for(chunk, 1)
    assert movie.name == "shot.mp4" and job.check_output(movie) is None
    probe = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
             "stream=codec_name,pix_fmt,width,height,nb_read_frames,r_frame_rate",
             "-of", "json", str(movie)],
            capture_output=True, text=True, check=True,
        ).stdout
    )["streams"][0]  # fmt: skip
    assert probe["codec_name"] == "h264" and probe["pix_fmt"] == "yuv420p"
    assert (probe["width"], probe["height"]) == (34, 22)
    assert int(probe["nb_read_frames"]) == 5 and probe["r_frame_rate"] == "12/1"
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a movie at all")
    assert "not a finished movie" in (job.check_output(bad) or "")
