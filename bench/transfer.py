"""Transfer benchmark: foxden's upload and download beside `rsync -a` between local folders.

    .venv/bin/python bench/transfer.py [--size-mb 1024] [--files 2000] [--workers 8] [--write]
    .venv/bin/python bench/transfer.py --size-mb 1000 --files 20 --equal-sizes   # 20 x 50 MiB

Generates a tree of `--files` files of mixed sizes totalling `--size-mb` MiB (many small files,
a few large ones, fixed seed; `--equal-sizes`: all the same size), starts a farm server
(`foxden serve`, SQLite, in another process) and measures, each beside rsync doing the same
between local folders in the same run:

1. upload to the farm (cold: empty hash cache, empty farm)  vs  rsync -a into an empty folder;
2. upload again, nothing changed                            vs  rsync -a into the up-to-date copy;
   and the same through the CLI (`foxden upload`, a new process: imports, login, cache);
3. download a task whose outputs are that tree, fresh        vs  rsync -a into an empty folder;
4. download again into the up-to-date folder                vs  rsync -a into the up-to-date copy;
   and the same through the CLI (`foxden download`);
5. the CLI's own start (`foxden --version`), the floor of every CLI row.

`--json PATH` also writes the results as JSON (bench runs that compare two versions of foxden
side by side put `PYTHONPATH=<other src>` in front: the client and the server both follow it).

Everything runs on loopback with warm page caches, so it measures the tools, not disks or
networks. `--write` puts the results in BENCHMARKS.md under "## Transfers (bench/transfer.py)".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
HEADING = "## Transfers (bench/transfer.py)"


def generate(
    root: Path, files: int, total: int, seed: int = 7, *, equal: bool = False
) -> list[Path]:
    """A tree of `files` files, sizes log-normally spread (or `equal`), scaled to `total` bytes."""
    rng = random.Random(seed)
    weights = [1.0 if equal else rng.lognormvariate(0, 2.0) for _ in range(files)]
    scale = total / sum(weights)
    sizes = [max(1, int(w * scale)) for w in weights]
    sizes[-1] += total - sum(sizes)
    paths = []
    for i, size in enumerate(sizes):
        path = root / f"shot{i % 20:02d}" / f"sub{i % 7}" / f"file{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            left = max(size, 0)
            while left:
                block = os.urandom(min(left, 8 << 20))
                fh.write(block)
                left -= len(block)
        paths.append(path)
    return paths


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) used so far by process `pid` (this one when None)."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds this process (the client) and the server's used during each step."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.steps: dict[str, tuple[float, float]] = {}

    def step(self, name: str, fn: Callable[[], Any]) -> tuple[float, Any]:
        ours, theirs = cpu_seconds(), cpu_seconds(self.server_pid)
        seconds, result = timed(fn)
        self.steps[name] = (cpu_seconds() - ours, cpu_seconds(self.server_pid) - theirs)
        return seconds, result

    def cli(self, name: str, *args: str, env: dict[str, str]) -> float:
        """Time a `foxden` command (its process's CPU stands for the client's)."""
        ours, theirs = children_cpu(), cpu_seconds(self.server_pid)
        seconds = timed_cli(*args, env=env)
        self.steps[name] = (children_cpu() - ours, cpu_seconds(self.server_pid) - theirs)
        return seconds


def rsync(src: Path, dst: Path) -> float:
    seconds, _ = timed(lambda: subprocess.run(["rsync", "-a", f"{src}/", f"{dst}/"], check=True))
    return seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed_cli(*args: str, env: dict[str, str]) -> float:
    """Seconds a `foxden` command takes, from starting its process to its exit."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "foxden.cli", *args], check=True, env=env, capture_output=True
    )
    return time.perf_counter() - start


def children_cpu() -> float:
    """CPU seconds (user + system) used so far by this process's finished children."""
    t = os.times()
    return t.children_user + t.children_system


def foxden(*args: str, env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "foxden.cli", *args],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    return out.stdout


def start_server(data: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, str, str]:
    """A farm server in its own process; returns it, its URL, a user key and the join key."""
    key = json.loads(foxden("account", "create", "bench", "--data-dir", str(data), env=env))[
        "access_key"
    ]
    foxden("account", "trust", "bench", "--data-dir", str(data), env=env)  # command tasks
    join_key = foxden("join-key", "--data-dir", str(data), env=env).strip()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "foxden.cli", "serve", "--data-dir", str(data), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url, key, join_key
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the farm server did not start")


def make_output_task(url: str, key: str, join_key: str, src: Path, files: list[Path]) -> int:
    """A done task whose outputs are the tree (a scripted worker uploads and reports them)."""
    worker_reply = httpx.post(
        f"{url}/api/worker/register",
        timeout=30,
        headers={"Authorization": f"Bearer {join_key}"},
        json={"name": "bench", "software": [{"name": "command", "version": "1"}]},
    )
    worker_reply.raise_for_status()
    worker = httpx.Client(
        base_url=url,
        timeout=120,
        headers={"Authorization": f"Bearer {worker_reply.json()['token']}"},
    )
    user = httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {key}"})
    user.post(
        "/api/projects", json={"project_name": "bench", "plugins": [{"cg_soft_name": "command 1"}]}
    ).raise_for_status()
    scene = src / "scene.txt"
    digest = hashlib.sha256(b"scene").hexdigest()
    entry = {"path": str(scene), "size": 5, "hash": digest}
    user.post("/api/files/check", json={"files": [entry]}).raise_for_status()
    user.put(
        f"/api/uploads/{digest}", params={"offset": 0, "total": 5}, content=b"scene"
    ).raise_for_status()
    user.post("/api/files/commit", json={"files": [entry]}).raise_for_status()
    task = user.post(
        "/api/tasks",
        json={
            "project_name": "bench",
            "input_scene_path": str(scene),
            "frames": f"1-{len(files)}",
            "chunk_size": len(files),
            "command": ["true"],
        },
    )
    task.raise_for_status()
    lease = worker.post("/api/worker/claim", json={}).json()
    results = []
    for frame, path in zip(lease["frames"], files, strict=True):
        data = path.read_bytes()
        h = hashlib.sha256(data).hexdigest()
        worker.put(
            f"/api/worker/blobs/{h}", params={"lease": lease["lease_id"]}, content=data
        ).raise_for_status()
        results.append(
            {
                "frame": frame,
                "status": "done",
                "outputs": [{"name": str(path.relative_to(src)), "hash": h, "size": len(data)}],
            }
        )
    worker.post(
        f"/api/worker/leases/{lease['lease_id']}/frames", json={"results": results}
    ).raise_for_status()
    task_id = int(task.json()["id"])
    assert user.get(f"/api/tasks/{task_id}").json()["status"] == "done"
    return task_id


def run(args: argparse.Namespace) -> dict[str, Any]:
    from foxden.client.api import Client

    base = Path(tempfile.mkdtemp(prefix="foxden-bench-", dir=args.tmp))
    env = {**os.environ, "FOXDEN_CACHE_DIR": str(base / "cache")}
    os.environ["FOXDEN_CACHE_DIR"] = env["FOXDEN_CACHE_DIR"]
    src = base / "src"
    total = args.size_mb << 20
    print(f"generating {args.files} files, {args.size_mb} MiB in {src}", flush=True)
    files = generate(src, args.files, total, equal=args.equal_sizes)
    time.sleep(2.1)  # let every mtime leave the hash cache's racy window (see hashcache.py)
    proc, url, key, join_key = start_server(base / "farm", env)
    cli_env = {**env, "FOXDEN_SERVER": url, "FOXDEN_ACCOUNT": "bench", "FOXDEN_ACCESS_KEY": key}
    cli_env["FOXDEN_CONFIG_DIR"] = str(base / "config")
    # CLI rows time the command as installed: with its modules' bytecode cached (each row's
    # command is run once untimed first, so that a fresh checkout's first run compiles them)
    cli_env.pop("PYTHONDONTWRITEBYTECODE", None)
    rows: list[tuple[str, float, float, dict[str, Any]]] = []
    none: dict[str, Any] = {}
    meter = CpuMeter(proc.pid)
    try:
        with Client(url, key, workers=args.workers, progress=False) as client:
            t, stats = meter.step("upload, cold", lambda: client.upload([src]))
            rows.append(("upload, cold", t, rsync(src, base / "copy"), stats.as_dict()))
            t, stats = meter.step("upload again, unchanged", lambda: client.upload([src]))
            assert stats.bytes_sent == 0, stats
            rows.append(("upload again, unchanged", t, rsync(src, base / "copy"), stats.as_dict()))
            timed_cli("upload", str(src), env=cli_env)
            t = meter.cli("CLI upload again, unchanged", "upload", str(src), env=cli_env)
            rows.append(("CLI upload again, unchanged", t, rsync(src, base / "copy"), none))
            print("making a task whose outputs are the tree", flush=True)
            task_id = make_output_task(url, key, join_key, src, files)
            down = base / "down"
            t, stats = meter.step("download, fresh folder", lambda: client.download(task_id, down))
            rows.append(("download, fresh folder", t, rsync(src, base / "copy2"), stats.as_dict()))
            t, stats = meter.step(
                "download, up-to-date folder", lambda: client.download(task_id, down)
            )
            assert stats.files_fetched == 0, stats
            rows.append(
                ("download, up-to-date folder", t, rsync(src, base / "copy2"), stats.as_dict())
            )
            timed_cli("download", str(task_id), "--out", str(base / "down"), env=cli_env)
            t = meter.cli(
                "CLI download again, up-to-date",
                "download",
                str(task_id),
                "--out",
                str(base / "down"),
                env=cli_env,
            )
            rows.append(("CLI download again, up-to-date", t, rsync(src, base / "copy2"), none))
            timed_cli("--version", env=cli_env)
            t = meter.cli("CLI start (`foxden --version`)", "--version", env=cli_env)
            rows.append(("CLI start (`foxden --version`)", t, rsync(src, base / "copy2"), none))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return {
        "files": args.files,
        "size_mb": args.size_mb,
        "workers": args.workers,
        "equal_sizes": args.equal_sizes,
        "load_average": os.getloadavg(),
        "rows": rows,
        "cpu": meter.steps,
    }


def report(result: dict[str, Any]) -> str:
    equal = " --equal-sizes" if result.get("equal_sizes") else ""
    lines = [
        HEADING,
        "",
        f"`.venv/bin/python bench/transfer.py --size-mb {result['size_mb']} --files {result['files']} "
        f"--workers {result['workers']}{equal}` on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{subprocess.run(['rsync', '--version'], capture_output=True, text=True).stdout.split()[2]} rsync; "
        "farm server in its own process on loopback (SQLite), warm page cache.",
        "",
        "| step | foxden | rsync -a | foxden / rsync | foxden moved | foxden hashed "
        "| CPU client + server |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, ours, theirs, stats in result["rows"]:
        client_cpu, server_cpu = result.get("cpu", {}).get(name, (0.0, 0.0))
        if not stats:  # a CLI row: the process's own counters are not seen
            lines.append(
                f"| {name} | {ours:.2f} s | {theirs:.2f} s | {ours / theirs:.2f} | | | "
                f"{client_cpu:.2f} + {server_cpu:.2f} s |"
            )
            continue
        moved = stats["bytes_sent"] or stats["bytes_fetched"]
        lines.append(
            f"| {name} | {ours:.2f} s | {theirs:.2f} s | {ours / theirs:.2f} | "
            f"{moved / 2**20:.0f} MiB | {stats['bytes_hashed'] / 2**20:.0f} MiB | "
            f"{client_cpu:.2f} + {server_cpu:.2f} s |"
        )
    by_name = {name: stats for name, _ours, _theirs, stats in result["rows"]}
    cold_up, fresh_down = by_name["upload, cold"], by_name["download, fresh folder"]
    lines += [
        "",
        "foxden's upload hashes (SHA-256) each byte once on each side: the client while it reads "
        "a file for the manifest (noting the running hash at each chunk boundary, which each "
        "chunk carries), the farm while it writes each chunk to disk (a damaged chunk is refused "
        "and sent again; a completed blob is not read back); rsync's local copy hashes nothing. "
        "The unchanged runs compare a quick-check (size + mtime) on both sides, plus, for foxden, "
        "one manifest round trip to the farm. CLI rows time a new `foxden` process from start to "
        "exit, its modules' bytecode cached (run once untimed first). "
        f"Load average at the end: {result['load_average'][0]:.1f}.",
        "",
        "Files under 1 MiB travel in batches (`POST /api/uploads/batch`, `POST /api/blobs/batch`), "
        "bigger ones alone: the cold upload sent "
        f"{cold_up['batches_sent']} batches and {cold_up['chunks_sent']} chunks, the fresh "
        f"download fetched {fresh_down['batches_fetched']} batches and the bigger files one "
        "by one.",
        "",
    ]
    return "\n".join(lines)


def write_section(text: str, path: Path = REPO / "BENCHMARKS.md") -> None:
    """Replace (or add) this benchmark's section of BENCHMARKS.md, leaving the others alone."""
    old = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if HEADING in old:
        start = old.index(HEADING)
        nxt = old.find("\n## ", start + len(HEADING))
        new = old[:start] + text + ("\n" + old[nxt + 1 :] if nxt != -1 else "")
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size-mb", type=int, default=1024, help="total size of the tree (default 1024)"
    )
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=8, help="parallel transfers (default 8)")
    parser.add_argument("--tmp", help="where to put the tree, the farm and the copies")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument("--equal-sizes", action="store_true", help="every file the same size")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    if shutil.which("rsync") is None:
        raise SystemExit("rsync is not installed (apt-get install rsync)")
    result = run(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    text = report(result)
    print(text)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
