"""Running the real `foxden` command in a subprocess against a live farm, for the CLI tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import httpx

from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, upload

FOXDEN = [sys.executable, "-m", "foxden.cli"]
SCENE = "/proj/shot/a.ma"


@dataclass
class CliFarm:
    """A live farm, alice's login in the environment, her project `p` ('command 1')."""

    server: LiveServer
    env: dict[str, str]
    user: httpx.Client
    worker: httpx.Client  # registered, claims only when a test makes it

    def fail_once(self, task_id: int, log: str, error: str) -> int:
        """Claim one frame of the task as the worker and report it failed; returns its number."""
        lease = self.worker.post("/api/worker/claim", json={"max_frames": 1}).json()
        assert lease["task"]["id"] == task_id, lease
        frame = int(lease["frames"][0])
        reply = self.worker.post(
            f"/api/worker/leases/{lease['lease_id']}/frames",
            json={"results": [{"frame": frame, "status": "failed", "error": error, "log": log}]},
        )
        reply.raise_for_status()
        return frame

    def run(
        self, *argv: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`foxden ARGV...` as alice; its exit status, stdout and stderr."""
        return subprocess.run(
            [*FOXDEN, *argv],
            capture_output=True,
            text=True,
            timeout=60,
            env=env or self.env,
            stdin=subprocess.DEVNULL,
        )

    def submit(self, frames: str = "1-3", *extra: str) -> int:
        """Submit a task of the uploaded scene through the CLI (--json); returns its id."""
        done = self.run(
            "submit", "--project", "p", "--scene", SCENE, "--frames", frames, "--json", *extra
        )
        assert done.returncode == 0, done.stderr
        return int(json.loads(done.stdout)["id"])

    def task(self, task_id: int) -> dict[str, Any]:
        """The task as the API has it (with its frames)."""
        reply = self.user.get(f"/api/tasks/{task_id}", params={"frames": True})
        reply.raise_for_status()
        result: dict[str, Any] = reply.json()
        return result


def cli_farm(server: LiveServer) -> CliFarm:
    """Prepare a farm for CLI tests: a worker offering 'command 1' that claims nothing (tasks
    stay queued unless a test claims their frames), project `p`, scene `/proj/shot/a.ma`."""
    worker = register_worker(
        server.url,
        server.farm.join_key,
        name="idle",
        software=[{"name": "command", "version": "1"}],
    )
    user = server.client(server.user_key)
    make_project(user, "p", "command 1")
    upload(user, SCENE, b"// a scene\n")
    env = dict(
        os.environ,
        FOXDEN_SERVER=server.url,
        FOXDEN_ACCOUNT="alice",
        FOXDEN_ACCESS_KEY=server.user_key,
        COLUMNS="200",
    )
    return CliFarm(server, env, user, worker)
