"""Fixtures of the client tests: a live farm with a simulated render node, a local project tree."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.client.simworker import SimWorker
from tests.conftest import LiveServer


@pytest.fixture(autouse=True)
def _client_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own hash cache and client config folder."""
    monkeypatch.setenv("FOXDEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FOXDEN_CONFIG_DIR", str(tmp_path / "config"))
    for name in ("FOXDEN_SERVER", "FOXDEN_ACCOUNT", "FOXDEN_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)


@dataclass
class SimFarm:
    """A live server with a simulated worker that renders the 'command 1' software."""

    server: LiveServer
    worker: SimWorker

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def key(self) -> str:
        return self.server.user_key


@pytest.fixture
def sim_farm(live_server: LiveServer) -> Iterator[SimFarm]:
    worker = SimWorker(live_server.url, live_server.farm.join_key)
    worker.start()
    try:
        yield SimFarm(live_server, worker)
    finally:
        worker.stop()
    assert not worker.errors, worker.errors


def age(root: Path, seconds: float = 3600) -> None:
    """Set the mtime of every file under `root` into the past (out of the racy-hash window)."""
    past = time.time() - seconds
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            os.utime(Path(dirpath) / name, (past, past))


@pytest.fixture
def project_tree(tmp_path: Path) -> Path:
    """A small local project: project/shot/lgt.ma and project/asset/sourceimages/*."""
    root = tmp_path / "v" / "project"
    (root / "shot").mkdir(parents=True)
    (root / "shot" / "lgt.ma").write_text("// a scene\nrequires maya 2018;\n")
    images = root / "asset" / "sourceimages"
    images.mkdir(parents=True)
    for i in range(5):
        (images / f"tex{i}.png").write_bytes(os.urandom(1000 * (i + 1)))
    (images / "big.exr").write_bytes(os.urandom(3 << 20))
    age(root)
    return root
