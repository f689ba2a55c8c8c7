"""Farm overhead: the same Blender scene rendered by plain Blender and through `foxden up`.

In one run, on this machine: an N-frame scene (scripts/make_scenes.py, Cycles on the CPU) is
rendered by `blender -b scene.blend -o out/anim_#### -s 1 -e N -a` (the scene's own output
settings, as the farm uses them), then by a `foxden up` farm with one local worker: the scene is
uploaded, a task with chunk size N (one Blender process, like the plain run) is submitted, and
the clock runs from the submit request until the task is done (every frame's output uploaded,
thumbnailed, reported) AND its Blender process has exited (the worker logs when), since the
plain run's clock includes Blender's exit too; the last frame is often reported before Blender
has quit. Runs alternate (plain, farm, plain, farm, ...) and medians are compared.

    python bench/overhead.py                       # 10 frames, 3 rounds; writes bench/out/overhead.json
    python bench/overhead.py --frames 12 --size 240x180 --samples 32 --rounds 5   # tiny frames
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
MAKE_SCENES = ROOT / "scripts" / "make_scenes.py"
# the worker's line once a Blender process ended (whatever its status), as `foxden up` logs it
_ENDED = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*: lease \d+: blender ended with status -?\d+ "
    r"after ([0-9.]+)s",
    re.MULTILINE | re.IGNORECASE,
)
EXIT_WAIT = 60.0  # seconds to wait, after the task is done, for its Blender process to end


def renderer_end(log: str) -> tuple[float, float] | None:
    """When the last Blender process in a `foxden up` log ended (epoch seconds, to the
    millisecond the log gives) and how long it ran; None while the log has no such line."""
    found = _ENDED.findall(log)
    if not found:
        return None
    stamp, seconds = found[-1]
    ended = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time
    return ended, float(seconds)


def last_renderer_seconds(log: str) -> float | None:
    """How long the last Blender process in a `foxden up` log ran; None if none ended yet."""
    end = renderer_end(log)
    return None if end is None else end[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_scene(blender: str, outdir: Path, frames: int, size: str, samples: int) -> Path:
    subprocess.run(
        [
            blender,
            "-b",
            "--factory-startup",
            "-noaudio",
            "--python-exit-code",
            "1",
            "--python",
            str(MAKE_SCENES),
            "--",
            str(outdir),
            "--only",
            "anim",
            "--frames",
            str(frames),
            "--size",
            size,
            "--samples",
            str(samples),
        ],
        check=True,
        capture_output=True,
    )
    return outdir


def plain_render(blender: str, scene_dir: Path, out: Path, frames: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(
        [
            blender,
            "-b",
            "--factory-startup",
            "-noaudio",
            str(scene_dir / "anim.blend"),
            "-o",
            str(out / "anim_####"),
            "-s",
            "1",
            "-e",
            str(frames),
            "-a",
        ],
        check=True,
        capture_output=True,
        cwd=scene_dir,
    )
    elapsed = time.perf_counter() - start
    written = sorted(out.glob("anim_*.png"))
    assert len(written) == frames, written
    return elapsed


class Farm:
    """A `foxden up` farm with one local worker, in a temporary data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.port = _free_port()
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.log = data_dir.parent / "up.log"
        with self.log.open("wb") as fh:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "foxden.cli",
                    "up",
                    "--data-dir",
                    str(data_dir),
                    "--port",
                    str(self.port),
                    "--workers",
                    "1",
                ],
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 120
        while "ready" not in self.log.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("foxden up did not start:\n" + self.log.read_text())
            time.sleep(0.1)
        creds = json.loads((data_dir / "credentials.json").read_text())
        self.http = httpx.Client(
            base_url=creds["render_server"],
            timeout=60,
            headers={"Authorization": f"Bearer {creds['access_key']}"},
        )

    def upload(self, local: Path, tree_dir: str) -> None:
        entries = []
        contents = {}
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            contents[digest] = data
            entries.append(
                {
                    "path": f"{tree_dir}/{path.relative_to(local).as_posix()}",
                    "size": len(data),
                    "hash": digest,
                }
            )
        missing = self.http.post("/api/files/check", json={"files": entries}).json()["missing"]
        for digest in missing:
            data = contents[digest]
            self.http.put(
                f"/api/uploads/{digest}",
                params={"offset": 0, "total": len(data)},
                content=data,
                headers={"X-Chunk-Sha256": digest},
            ).raise_for_status()
        self.http.post("/api/files/commit", json={"files": entries}).raise_for_status()

    def render(self, frames: int, chunk: int) -> tuple[float, float]:
        """Seconds from the submit request until the task is done and its Blender process has
        exited (server clock and worker log, same machine), and how long that Blender process
        ran. Polls gently so that the poll does not take CPU from Blender."""
        seen = len(self.log.read_bytes())  # this render's lines come after
        start = time.time()
        reply = self.http.post(
            "/api/tasks",
            json={
                "project_name": "bench",
                "input_scene_path": "/bench/shot/anim.blend",
                "frames": f"1-{frames}",
                "chunk_size": chunk,
                "max_attempts": 1,
            },
        )
        reply.raise_for_status()
        task_id = reply.json()["id"]
        while True:
            task = self.http.get(f"/api/tasks/{task_id}").json()
            if task["status"] in ("done", "failed", "stopped", "aborted"):
                break
            time.sleep(0.25)
        if task["status"] != "done":
            raise RuntimeError(f"task {task_id} ended {task['status']}")
        outputs = self.http.get(f"/api/tasks/{task_id}/outputs").json()
        assert len(outputs) == frames, outputs
        ended = self.renderer_end(since=seen)
        return max(float(task["completed_time"]), ended[0]) - start, ended[1]

    def renderer_end(self, *, since: int) -> tuple[float, float]:
        """When the Blender process logged after byte `since` of the log ended, and how long it
        ran; waits for the worker to log it (the task may be done before Blender exits)."""
        deadline = time.monotonic() + EXIT_WAIT
        while True:
            end = renderer_end(self.log.read_bytes()[since:].decode(errors="replace"))
            if end is not None:
                return end
            if time.monotonic() > deadline:
                tail = self.log.read_bytes()[since:].decode(errors="replace").splitlines()[-30:]
                raise RuntimeError(
                    f"the worker logged no end of its Blender process within {EXIT_WAIT:.0f} s "
                    "of the task being done; the log's last lines:\n" + "\n".join(tail)
                )
            time.sleep(0.05)

    def close(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunk", type=int, help="task chunk size (default: all frames)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "overhead.json")
    args = parser.parse_args()
    blender = shutil.which("blender")
    if blender is None:
        print("overhead: Blender is not installed", file=sys.stderr)
        return 2
    chunk = args.chunk or args.frames
    with tempfile.TemporaryDirectory(prefix="foxden-overhead-") as tmp_name:
        tmp = Path(tmp_name)
        scene_dir = build_scene(blender, tmp / "scene", args.frames, args.size, args.samples)
        farm = Farm(tmp / "farm" / "data")
        try:
            farm.http.post(
                "/api/projects",
                json={
                    "project_name": "bench",
                    "plugins": [{"cg_soft_name": "blender 3.4"}],
                },
            ).raise_for_status()
            farm.upload(scene_dir, "/bench/shot")
            plain: list[float] = []
            through: list[float] = []
            inside: list[float] = []
            for n in range(args.rounds):
                plain.append(plain_render(blender, scene_dir, tmp / "plain", args.frames))
                farm_s, blender_s = farm.render(args.frames, chunk)
                through.append(farm_s)
                inside.append(blender_s)
                print(
                    f"round {n + 1}: plain {plain[-1]:.2f}s, farm {through[-1]:.2f}s "
                    f"(its Blender process {inside[-1]:.2f}s)",
                    flush=True,
                )
        finally:
            farm.close()
    result: dict[str, Any] = {
        "frames": args.frames,
        "size": args.size,
        "samples": args.samples,
        "chunk": chunk,
        "rounds": args.rounds,
        "plain_s": plain,
        "farm_s": through,
        "farm_blender_s": inside,
        "farm_own_s": [t - b for t, b in zip(through, inside, strict=True)],
        "plain_median_s": statistics.median(plain),
        "farm_median_s": statistics.median(through),
    }
    result["load_average"] = list(os.getloadavg())
    result["ratio"] = result["farm_median_s"] / result["plain_median_s"]
    result["overhead_pct"] = 100.0 * (result["ratio"] - 1.0)
    result["farm_own_median_s"] = statistics.median(result["farm_own_s"])
    result["farm_over_its_blender"] = statistics.median(
        t / b for t, b in zip(through, inside, strict=True)
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"plain Blender {result['plain_median_s']:.2f}s, through foxden up "
        f"{result['farm_median_s']:.2f}s: ratio {result['ratio']:.3f} "
        f"({result['overhead_pct']:+.1f}%); the farm's own time (submit to done, less its "
        f"Blender process) {result['farm_own_median_s']:.2f}s, farm / its Blender "
        f"{result['farm_over_its_blender']:.3f}; written to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
