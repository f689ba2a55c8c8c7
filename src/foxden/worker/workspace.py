"""Per-lease workspaces: the task's inputs laid out as the account tree, by hard links to the cache.

    <work>/task-<task>-lease-<lease>/tree/v/project/a.blend   (tree path /v/project/a.blend)
    <work>/task-<task>-lease-<lease>/out/                     (where the renderer writes)

Paths from the server are never trusted: each goes through `foxden.paths.relative_in_tree`, and
the final path must still be inside the tree. A workspace is removed when its lease ends; leftovers
of an earlier run (and any renderer still running in them) are removed when the worker starts.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from foxden.errors import BadRequest
from foxden.paths import relative_in_tree
from foxden.processes import processes_using
from foxden.wire.worker import InputFile
from foxden.worker.cache import BlobCache
from foxden.worker.protocol import WorkerClient, WorkerError

log = logging.getLogger("foxden.worker")


@dataclass
class Workspace:
    """One lease's local files."""

    root: Path

    @property
    def tree(self) -> Path:
        """The local mirror of the account tree."""
        return self.root / "tree"

    @property
    def out(self) -> Path:
        """Where the renderer writes the outputs."""
        return self.root / "out"

    def local(self, tree_path: str) -> Path:
        """The local path of a tree path (raises BadRequest for a path that would escape)."""
        path = self.tree / relative_in_tree(tree_path)
        if not path.resolve().is_relative_to(self.tree.resolve()):
            raise BadRequest(f"path {tree_path!r} leaves the workspace")
        return path

    def remove(self) -> None:
        """Delete the workspace and everything in it."""
        _make_writable(self.root)
        shutil.rmtree(self.root, ignore_errors=True)


def create(
    work_dir: Path,
    task_id: int,
    lease_id: int,
    inputs: list[InputFile],
    cache: BlobCache,
    client: WorkerClient,
) -> Workspace:
    """Fetch the inputs into the cache and hard-link them into a fresh workspace."""
    ws = Workspace(work_dir / f"task-{int(task_id)}-lease-{int(lease_id)}")
    if ws.root.exists():
        ws.remove()
    ws.tree.mkdir(parents=True)
    ws.out.mkdir()
    with cache.pinned(i["hash"] for i in inputs):
        for item in inputs:
            dest = ws.local(item["path"])
            source = cache.get(item["hash"], int(item["size"]), client)
            dest.parent.mkdir(parents=True, exist_ok=True)
            _link(source, dest)
    return ws


def _link(source: Path, dest: Path) -> None:
    try:
        os.link(source, dest)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise WorkerError(f"cannot lay out {dest.name}: {exc}") from exc
        shutil.copyfile(source, dest)  # another file system: a copy is all we can do


def _make_writable(root: Path) -> None:
    """Hard-linked inputs are read-only; their folders must be writable to delete them."""
    for folder, dirs, _files in os.walk(root):
        for name in dirs:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(folder, name), 0o755)


def clean_leftovers(work_dir: Path) -> int:
    """Kill renderers still running in old workspaces (a worker killed outright leaves them)
    and delete those workspaces; returns how many workspaces there were."""
    work_dir.mkdir(parents=True, exist_ok=True)
    old = [p for p in work_dir.iterdir() if p.is_dir()]
    if old:
        for pid in processes_using(work_dir):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                log.warning("killed leftover renderer %d", pid, extra={"event": "orphan_killed"})
    for path in old:
        Workspace(path).remove()
    return len(old)
