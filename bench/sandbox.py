"""The sandbox's cost: the same Blender chunk rendered with and without the worker's sandbox.

In one run, on this machine: an N-frame scene (scripts/make_scenes.py, Cycles on the CPU) is laid
out as a lease's workspace and rendered as one chunk (one Blender process, the Blender job type's
command line) the way the worker runs it: through the launcher (`dies_with_worker`, with the
default resource limits) and `run_process`, once as it is (`--no-sandbox`) and once in the
bubblewrap sandbox (`Sandbox.wrap`). Runs alternate (plain, sandboxed, plain, ...) so that both
see the same machine; medians per frame are compared. The sandbox alone (`true` in a sandbox,
against `true` through the launcher) is timed too: it is what each renderer process pays.

    python bench/sandbox.py                      # 5 frames, 2 rounds; writes bench/out/sandbox.json
    python bench/sandbox.py --frames 10 --size 640x480 --samples 64 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from foxden.jobtypes import ChunkSpec, get_job_type
from foxden.jobtypes.blender import BlenderJobType
from foxden.worker.launcher import dies_with_worker
from foxden.worker.process import run_process
from foxden.worker.sandbox import Limits, Sandbox, clean_env, trusted_env
from foxden.worker.settings import DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_PROCESSES, DEFAULT_MAX_TMP

ROOT = Path(__file__).resolve().parent.parent
MAKE_SCENES = ROOT / "scripts" / "make_scenes.py"


def build_scene(blender: str, outdir: Path, frames: int, size: str, samples: int) -> Path:
    subprocess.run(
        [
            *(blender, "-b", "--factory-startup", "-noaudio", "--python-exit-code", "1"),
            *("--python", str(MAKE_SCENES), "--", str(outdir), "--only", "anim"),
            *("--frames", str(frames), "--size", size, "--samples", str(samples)),
        ],
        check=True,
        capture_output=True,
    )
    return outdir / "anim.blend"


def render(
    scene_dir: Path, work: Path, frames: int, sandbox: Sandbox | None, limits: Limits
) -> float:
    """Seconds to render the chunk (from start to exit), after checking every frame's output."""
    if work.exists():
        shutil.rmtree(work)
    tree, out = work / "tree", work / "out"
    shutil.copytree(scene_dir, tree / "v" / "shot")
    out.mkdir()
    job_type = get_job_type("blender")
    software = BlenderJobType().detect()[0]
    chunk = ChunkSpec(
        task_id=1,
        scene_path=tree / "v" / "shot" / "anim.blend",
        scene_name="anim",
        frames=list(range(1, frames + 1)),
        render_layer=None,
        camera=None,
        options={},
        output_dir=out,
        workspace=tree,
        software=software,
    )
    (command,) = job_type.commands(chunk)
    argv, env = list(command.argv), trusted_env(command.env)
    if sandbox is not None:
        sandbox.prepare([tree], [out])
        argv = sandbox.wrap(
            command.argv,
            cwd=command.cwd,
            read_only=[tree, *command.read_only],
            writable=[out],
            env=clean_env(command.env),
        )
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    lines: list[str] = []
    clock = time.perf_counter()
    result = run_process(
        dies_with_worker(argv, os.getpid(), limits.rlimits()),
        command.cwd,
        env,
        lines.append,
        inherit_env=False,
    )
    seconds = time.perf_counter() - clock
    if result.returncode != 0:
        raise SystemExit("render failed:\n" + "\n".join(lines[-30:]))
    for f in chunk.frames:
        outputs = job_type.outputs_for(chunk, f)
        if len(outputs) != 1 or job_type.check_output(outputs[0]) is not None:
            raise SystemExit(f"frame {f} has no good output: {outputs}")
    return seconds


def start_cost(sandbox: Sandbox, work: Path, limits: Limits, n: int = 20) -> dict[str, float]:
    """Median seconds to run `true` through the launcher, plain and in a sandbox."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "tree").mkdir(exist_ok=True)
    (work / "out").mkdir(exist_ok=True)
    sandbox.prepare([work / "tree"], [work / "out"])
    boxed = sandbox.wrap(
        ["true"], cwd=work, read_only=[work / "tree"], writable=[work / "out"], env=clean_env({})
    )
    times: dict[str, list[float]] = {"plain": [], "sandboxed": []}
    for _ in range(n):
        for name, argv in (("plain", ["true"]), ("sandboxed", boxed)):
            clock = time.perf_counter()
            result = run_process(
                dies_with_worker(argv, os.getpid(), limits.rlimits()),
                work,
                {"PATH": "/usr/bin:/bin"},
                inherit_env=False,
            )
            times[name].append(time.perf_counter() - clock)
            assert result.returncode == 0, name
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blender", default=shutil.which("blender") or "blender")
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--samples", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "sandbox.json")
    args = parser.parse_args()

    from foxden.worker.machine import cores, memory_mb

    limits = Limits(
        memory=memory_mb() << 20,
        cpu_seconds=cores() * 86400,
        file_size=DEFAULT_MAX_FILE_SIZE,
        processes=DEFAULT_MAX_PROCESSES,
        tmp_size=DEFAULT_MAX_TMP,
    )
    sandbox = Sandbox(limits=limits)
    runs: dict[str, list[float]] = {"plain": [], "sandboxed": []}
    with tempfile.TemporaryDirectory(prefix="foxden-bench-sandbox-") as tmp:
        base = Path(tmp)
        sandbox.check(base / "check")
        scene_dir = build_scene(args.blender, base / "scene", args.frames, args.size, args.samples)
        render(scene_dir.parent, base / "warm", args.frames, None, limits)  # caches warm
        for r in range(args.rounds):
            for name in ("plain", "sandboxed") if r % 2 == 0 else ("sandboxed", "plain"):
                box = sandbox if name == "sandboxed" else None
                seconds = render(scene_dir.parent, base / name, args.frames, box, limits)
                runs[name].append(seconds)
                print(
                    f"round {r + 1} {name:9s} {seconds:7.2f} s  ({seconds / args.frames:.3f} s/frame)"
                )
        starts = start_cost(sandbox, base / "start", limits)
    per_frame = {k: statistics.median(v) / args.frames for k, v in runs.items()}
    extra = per_frame["sandboxed"] - per_frame["plain"]
    report: dict[str, Any] = {
        "frames": args.frames,
        "size": args.size,
        "samples": args.samples,
        "rounds": args.rounds,
        "runs_seconds": runs,
        "per_frame_seconds": per_frame,
        "sandbox_extra_per_frame_seconds": extra,
        "sandbox_extra_percent": 100 * extra / per_frame["plain"],
        "start_seconds": starts,
        "sandbox_start_extra_seconds": starts["sandboxed"] - starts["plain"],
        "python": sys.version.split()[0],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
