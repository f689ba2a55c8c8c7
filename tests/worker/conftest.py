"""Fixtures for the render node tests: real scenes, real `foxden worker` processes, real Blender."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from foxden.farm.workers import list_workers
from foxden.server.config import Settings
from tests.conftest import LiveServer, farm_settings
from tests.farmkit import upload
from tests.scenes import make_scenes
from tests.waiting import wait_until

SHOT = "/v/project/shot"  # where the test scenes go in the account tree


@pytest.fixture(scope="session")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """anim.blend (5 frames, 64x48), missing_tex.blend, tex/checker.png."""
    return make_scenes(tmp_path_factory.mktemp("scenes"), "--only", "anim,missing_tex")


@pytest.fixture(scope="session")
def slow_scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """anim.blend that takes far longer to render (for stop and kill tests)."""
    return make_scenes(
        tmp_path_factory.mktemp("slow"), "--only", "anim", "--size", "640x480", "--samples", "4000"
    )


@pytest.fixture
def server_settings(db_url: str, tmp_path: Path) -> Settings:
    """Short leases and heartbeats, so that stops and lost workers show quickly."""
    return farm_settings(db_url, tmp_path, lease_seconds=4)


def upload_folder(user: httpx.Client, local: Path, tree_dir: str = SHOT) -> None:
    """Upload every file of `local` to the same place under `tree_dir`."""
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        upload(user, f"{tree_dir}/{path.relative_to(local).as_posix()}", path.read_bytes())


def process_ids(needle: str, program: str = "") -> list[int]:
    """Live (not zombie) processes whose command line contains `needle` and whose program's
    name contains `program`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode("utf-8", "replace").split("\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z" or not argv or program not in Path(argv[0]).name:
            continue
        if needle in " ".join(argv):
            found.append(int(entry.name))
    return found


def kill_leftovers(needle: str) -> None:
    for pid in process_ids(needle):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@dataclass
class WorkerProc:
    """A `foxden worker` process under test."""

    name: str
    cache: Path
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def blender_pids(self) -> list[int]:
        return process_ids(str(self.cache), "blender")


@pytest.fixture
def spawn_worker(live_server: LiveServer, tmp_path: Path) -> Iterator[Callable[..., WorkerProc]]:
    """Start `foxden worker` processes against the live server; all are stopped at the end."""
    started: list[WorkerProc] = []

    def spawn(name: str = "w1", *extra: str, wait: bool = True) -> WorkerProc:
        cache = tmp_path / f"cache-{name}"
        log_path = tmp_path / f"{name}.log"
        env = dict(os.environ, FOXDEN_JOIN_KEY=live_server.farm.join_key)
        argv = [
            sys.executable,
            "-m",
            "foxden.cli",
            "worker",
            "--server",
            live_server.url,
            "--name",
            name,
            "--cache",
            str(cache),
            "--poll",
            "0.3",
            *extra,
        ]
        with log_path.open("wb") as fh:
            proc = subprocess.Popen(
                argv, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        worker = WorkerProc(name, cache, proc, log_path)
        started.append(worker)
        if wait:
            wait_until(
                f"worker {name} to register",
                lambda: (
                    any(
                        w.name == name and w.status != "offline"
                        for w in list_workers(live_server.farm.db)
                    )
                    or proc.poll() is not None
                ),
                timeout=60,
            )
            assert proc.poll() is None, worker.log
        return worker

    yield spawn
    for w in started:
        if w.proc.poll() is None:
            w.proc.send_signal(signal.SIGTERM)
    for w in started:
        try:
            w.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            w.proc.kill()
            w.proc.wait()
        kill_leftovers(str(w.cache))


def wait_task(
    user: httpx.Client, task_id: int, statuses: tuple[str, ...], timeout: float = 90.0
) -> dict[str, Any]:
    """Poll a task until its status is one of `statuses`."""

    def check() -> dict[str, Any] | None:
        task: dict[str, Any] = user.get(f"/api/tasks/{task_id}", params={"frames": True}).json()
        return task if task["status"] in statuses else None

    result: dict[str, Any] = wait_until(
        f"task {task_id} to reach {statuses}", check, timeout, every=0.2
    )
    return result
