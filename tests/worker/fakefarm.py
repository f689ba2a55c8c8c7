"""A farm faked with httpx's mock transport, for the worker's unit tests."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from foxden.retry import RetryPolicy
from foxden.wire.worker import LeaseOut
from foxden.worker.agent import Agent
from foxden.worker.protocol import WorkerClient
from foxden.worker.settings import WorkerSettings

FAST = RetryPolicy(attempts=None, base_delay=0.001, max_delay=0.01)


def client_for(handler: httpx.MockTransport, stop: threading.Event | None = None) -> WorkerClient:
    client = WorkerClient("http://farm.test", stop or threading.Event(), FAST)
    client._http = httpx.Client(base_url="http://farm.test", transport=handler)
    client.token = "fdw_test"
    return client


def blob_server(
    blobs: dict[str, bytes], corrupt_first: set[str] | None = None
) -> tuple[httpx.MockTransport, list[str]]:
    fetched: list[str] = []
    corrupt = set(corrupt_first or ())

    def handler(request: httpx.Request) -> httpx.Response:
        digest = request.url.path.rsplit("/", 1)[1]
        fetched.append(digest)
        if digest not in blobs:
            return httpx.Response(404, json={"error": {"message": "not yours"}})
        if digest in corrupt:
            corrupt.discard(digest)
            return httpx.Response(200, content=b"X" + blobs[digest][1:])
        return httpx.Response(200, content=blobs[digest])

    return httpx.MockTransport(handler), fetched


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeFarm:
    """The worker protocol's server side, in memory, for an `Agent` or a `WorkerClient`.

    One frame a lease, each a command task's frame that runs `true` (no output). The switches
    make it an older server: `claims_route=False` has no `POST /claims` (404), `long_poll=False`
    answers an idle claim at once whatever its `wait`, `report_claims=False` ignores a report's
    `claim`. An idle claim that may wait is held open until work is added, the farm is closed,
    or `min(wait, hold)` passes.
    """

    def __init__(
        self,
        *,
        claims_route: bool = True,
        long_poll: bool = True,
        report_claims: bool = True,
        hold: float = 60.0,
    ) -> None:
        self.claims_route = claims_route
        self.long_poll = long_poll
        self.report_claims = report_claims
        self.hold = hold
        self.cond = threading.Condition()
        self.pending: list[int] = []  # frames waiting for a worker
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (path, JSON body) as they came
        self.leases: dict[int, int] = {}  # lease id -> its frame
        self.handed: list[tuple[str, list[int]]] = []  # (how, lease ids) per reply with leases
        self.results: list[dict[str, Any]] = []
        self.released: list[int] = []
        self.signed_off = threading.Event()
        self.closed = threading.Event()
        self.on_claims: Callable[[], None] | None = None  # called as a /claims request comes in
        self.on_report: Callable[[dict[str, Any]], None] | None = None
        self._next_lease = 100

    # -- what a test does ---------------------------------------------------------------------
    def add_work(self, *frames: int) -> None:
        """New frames: they wake the claims held open."""
        with self.cond:
            self.pending.extend(frames)
            self.cond.notify_all()

    def close(self) -> None:
        """End every claim held open (at the end of a test)."""
        self.closed.set()
        with self.cond:
            self.cond.notify_all()

    def count(self, path_end: str) -> int:
        """How many requests went to a path ending with `path_end`."""
        return sum(1 for path, _ in self.requests if path.endswith(path_end))

    def reported(self) -> list[int]:
        """The frames reported done."""
        return sorted(r["frame"] for r in self.results if r["status"] == "done")

    # -- the server -----------------------------------------------------------------------------
    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/worker")
        body: dict[str, Any] = json.loads(request.content or b"{}")
        with self.cond:
            self.requests.append((path, body))
        if path == "/register":
            return httpx.Response(201, json=self._registered())
        if path == "/claims" and self.claims_route:
            if self.on_claims is not None:
                self.on_claims()
            leases = self._claim(body.get("slots", 1), body.get("wait", 0.0), "claims")
            return httpx.Response(200, json={"leases": leases}) if leases else httpx.Response(204)
        if path == "/claim":
            leases = self._claim(1, body.get("wait", 0.0) if self.claims_route else 0.0, "claim")
            return httpx.Response(200, json=leases[0]) if leases else httpx.Response(204)
        if path.endswith("/heartbeat"):
            return httpx.Response(200, json={"action": "continue", "lease_seconds": 30})
        if path.endswith("/frames"):
            return self._report(body)
        if path.endswith("/release"):
            lease_id = int(path.split("/")[2])
            with self.cond:
                self.released.append(lease_id)
                self.pending.append(self.leases.pop(lease_id))
            return httpx.Response(200, json={"released": 1})
        if path == "/sign-off":
            self.signed_off.set()
            return httpx.Response(200, json={"released": 0})
        return httpx.Response(404, json={"error": {"message": f"no {path}"}})

    def _registered(self) -> dict[str, Any]:
        return {
            "worker_id": 1,
            "token": "fdw_fake",
            "approved": True,
            "heartbeat_seconds": 5.0,
            "lease_seconds": 30.0,
        }

    def _claim(self, slots: int, wait: float, how: str) -> list[LeaseOut]:
        deadline = time.monotonic() + min(wait, self.hold) if self.long_poll else 0.0
        with self.cond:
            while not self.pending and not self.closed.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            return self._take(slots, how)

    def _take(self, slots: int, how: str) -> list[LeaseOut]:
        leases = []
        while self.pending and len(leases) < slots:
            self._next_lease += 1
            self.leases[self._next_lease] = self.pending.pop(0)
            leases.append(command_lease(self._next_lease, self.leases[self._next_lease]))
        if leases:
            self.handed.append((how, [lease["lease_id"] for lease in leases]))
        return leases

    def _report(self, body: dict[str, Any]) -> httpx.Response:
        with self.cond:
            self.results.extend(body["results"])
        reply: dict[str, Any] = {"accepted": [r["frame"] for r in body["results"]], "rejected": []}
        claim = body.get("claim")
        if claim is not None and self.report_claims:
            with self.cond:
                reply["leases"] = self._take(claim.get("slots", 1), "report")
        if self.on_report is not None:
            self.on_report(reply)
        return httpx.Response(200, json=reply)


def command_lease(lease_id: int, frame: int, argv: list[str] | None = None) -> LeaseOut:
    """A lease of one frame of a command task that runs `argv` (default `true`) and makes no
    output."""
    return {
        "lease_id": lease_id,
        "lease_seconds": 30,
        "heartbeat_seconds": 5.0,
        "frames": [frame],
        "task": {
            "id": 3,
            "job_type": "command",
            "cg_soft_name": "command 1",
            "plugin_name": "",
            "scene_path": "/v/p/scene.txt",
            "render_layer": "",
            "camera": "",
            "options": {"command": argv or ["true"], "expect_outputs": False},
            "output_folder": "3_scene",
            "allow_network": False,
            "allow_scripts": False,
        },
        "inputs": [],
    }


def fake_agent(farm: FakeFarm, tmp_path: Path, **settings: Any) -> Agent:
    """An `Agent` without a sandbox whose server is `farm`."""
    values: dict[str, Any] = {
        "server": "http://farm.test",
        "join_key": "fdj_test",
        "cache_dir": tmp_path / "cache",
        "sandbox": False,
        "poll_seconds": 0.2,
    }
    agent = Agent(WorkerSettings(**{**values, **settings}))
    agent.client.policy = FAST
    agent.client._http = httpx.Client(
        base_url="http://farm.test", transport=httpx.MockTransport(farm)
    )
    return agent
