"""Frames as they finish: `Client.download(follow=True)` against a real server while a simulated
render node finishes frames one at a time, when the test lets it."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import pytest

from foxden.client.api import Client
from foxden.client.fox import Fox
from foxden.client.transfer import PART_SUFFIX, TransferStats
from tests.client.simworker import render_png
from tests.conftest import LiveServer
from tests.farmkit import register_worker
from tests.waiting import wait_until


class GatedWorker(threading.Thread):
    """Claims and renders one frame each time the test allows one (`allow`)."""

    def __init__(self, url: str, join_key: str) -> None:
        super().__init__(daemon=True)
        self.http: httpx.Client = register_worker(
            url, join_key, name="gated", software=[{"name": "command", "version": "1"}]
        )
        self.gate = threading.Semaphore(0)
        self._halt = threading.Event()
        self.done: list[int] = []
        self.errors: list[BaseException] = []

    def allow(self, frames: int = 1) -> None:
        self.gate.release(frames)

    def stop(self) -> None:
        self._halt.set()
        self.gate.release(100)
        self.join(timeout=10)
        self.http.close()

    def run(self) -> None:
        while not self._halt.is_set():
            if not self.gate.acquire(timeout=0.1) or self._halt.is_set():
                continue
            try:
                while not self._halt.is_set():
                    reply = self.http.post("/api/worker/claim", json={"max_frames": 1})
                    if reply.status_code == 200:
                        self._render(reply.json())
                        break
                    reply.raise_for_status()
                    time.sleep(0.05)
            except BaseException as exc:  # surface failures to the test
                self.errors.append(exc)

    def _render(self, lease: dict[str, Any]) -> None:
        task = lease["task"]
        stem = PurePosixPath(task["scene_path"]).stem
        results = []
        for frame in lease["frames"]:
            data = render_png(frame, "", "", b"scene")
            digest = hashlib.sha256(data).hexdigest()
            self.http.put(
                f"/api/worker/blobs/{digest}", params={"lease": lease["lease_id"]}, content=data
            ).raise_for_status()
            name = f"{stem}_{frame:04d}.png"
            outputs = [{"name": name, "hash": digest, "size": len(data)}]
            results.append({"frame": frame, "status": "done", "outputs": outputs})
        self.http.post(
            f"/api/worker/leases/{lease['lease_id']}/frames", json={"results": results}
        ).raise_for_status()
        self.done.extend(lease["frames"])


@pytest.fixture
def gated(live_server: LiveServer) -> Iterator[GatedWorker]:
    worker = GatedWorker(live_server.url, live_server.farm.join_key)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
    assert not worker.errors, worker.errors


class Follower(threading.Thread):
    """`Client.download(follow=True)` in a thread of its own (with its own client)."""

    def __init__(self, server: LiveServer, task_id: int, out: Path) -> None:
        super().__init__(daemon=True)
        self.server, self.task_id, self.out = server, task_id, out
        self.stats: TransferStats | None = None
        self.seen: list[tuple[str, int]] = []  # (task status, frames done) at each poll
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with Client(self.server.url, self.server.user_key, progress=False) as client:
                self.stats = client.download(
                    self.task_id,
                    self.out,
                    follow=True,
                    poll=0.05,
                    on_progress=lambda t, _s: self.seen.append((t.status, t.counts["done"])),
                )
        except BaseException as exc:
            self.error = exc

    def result(self) -> TransferStats:
        self.join(timeout=60)
        assert not self.is_alive(), "the follower did not end"
        assert self.error is None, self.error
        assert self.stats is not None
        return self.stats


def _submit(client: Client, tmp_path: Path, frames: str) -> int:
    scene = tmp_path / "shot" / "scene.txt"
    scene.parent.mkdir(parents=True, exist_ok=True)
    scene.write_text("a scene\n")
    client.create_project("p", "command 1")
    client.upload([scene])
    return client.submit("p", scene, frames, chunk_size=1).id


def _pngs(out: Path) -> list[Path]:
    return sorted(out.rglob("*.png"))


def test_follow_fetches_each_frame_as_it_is_done(
    live_server: LiveServer, gated: GatedWorker, tmp_path: Path
) -> None:
    out = tmp_path / "renders"
    with Client(live_server.url, live_server.user_key, progress=False) as client:
        task_id = _submit(client, tmp_path, "1-4")
        follower = Follower(live_server, task_id, out)
        follower.start()
        gated.allow(1)
        first = wait_until("the first frame's file on disk", lambda: _pngs(out), timeout=30)
        # the other frames are not rendered yet: the worker waits for the test
        assert len(first) == 1 and not list(out.rglob(f"*{PART_SUFFIX}"))
        assert client.task(task_id).counts["done"] == 1 and follower.is_alive()
        assert first[0].name == f"scene_{gated.done[0]:04d}.png"
        gated.allow(3)
        stats = follower.result()
        assert stats.task_status == "done"
        assert stats.files_fetched == 4 and stats.files_skipped == 0
        assert len(_pngs(out)) == 4
        assert follower.seen[-1] == ("done", 4) and len(follower.seen) >= 3

        # everything is here and identical: nothing is fetched again, one poll ends it
        again = client.download(task_id, out, follow=True, poll=0.05)
        assert again.task_status == "done" and again.polls == 1
        assert again.files_fetched == 0 and again.bytes_fetched == 0
        assert again.files_skipped == 4 and again.files == 4


def test_follow_skips_files_already_here_and_fetches_only_the_new_ones(
    live_server: LiveServer, gated: GatedWorker, tmp_path: Path
) -> None:
    out = tmp_path / "renders"
    with Client(live_server.url, live_server.user_key, progress=False) as client:
        task_id = _submit(client, tmp_path, "1-3")
        gated.allow(1)
        wait_until("a frame done", lambda: client.task(task_id).counts["done"] == 1)
        assert client.download(task_id, out).files_fetched == 1  # a plain download, mid-way
        follower = Follower(live_server, task_id, out)
        follower.start()
        gated.allow(2)
        stats = follower.result()
    assert stats.task_status == "done"
    assert stats.files_skipped == 1 and stats.files_fetched == 2
    assert len(_pngs(out)) == 3


def test_follow_ends_when_the_task_is_stopped_with_the_done_frames_fetched(
    live_server: LiveServer, gated: GatedWorker, tmp_path: Path
) -> None:
    out = tmp_path / "renders"
    with Client(live_server.url, live_server.user_key, progress=False) as client:
        task_id = _submit(client, tmp_path, "1-3")
        follower = Follower(live_server, task_id, out)
        follower.start()
        gated.allow(1)
        wait_until("the first frame's file on disk", lambda: _pngs(out), timeout=30)
        client.stop(task_id)
        stats = follower.result()
    assert stats.task_status == "stopped"
    assert stats.files_fetched == 1 and len(_pngs(out)) == 1


def test_ctrl_c_ends_a_follow_cleanly(
    live_server: LiveServer, gated: GatedWorker, tmp_path: Path
) -> None:
    out = tmp_path / "renders"
    with Client(live_server.url, live_server.user_key, progress=False) as client:
        task_id = _submit(client, tmp_path, "1-2")
        gated.allow(1)
        wait_until("a frame done", lambda: client.task(task_id).counts["done"] == 1)

        def interrupt(_task: Any, stats: TransferStats) -> None:
            if stats.polls == 2:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            client.download(task_id, out, follow=True, poll=0.05, on_progress=interrupt)
        assert len(_pngs(out)) == 1 and not list(out.rglob(f"*{PART_SUFFIX}"))
        assert client.task(task_id).status == "rendering"  # following never touches the task


def test_fox_follows_a_task_and_its_records_carry_the_estimates(
    live_server: LiveServer, gated: GatedWorker, tmp_path: Path
) -> None:
    out = tmp_path / "renders"
    with Client(live_server.url, live_server.user_key, progress=False) as client:
        task_id = _submit(client, tmp_path, "1-2")
    gated.allow(2)
    with Fox(live_server.url, "alice", live_server.user_key, progress=False) as fox:
        stats = fox.download(task_id, out, follow=True)
        assert stats.task_status == "done" and stats.files_fetched == 2
        [record] = fox.get_tasks(task_id=task_id)
    assert record["eta_seconds"] is None  # done: nothing left
    assert record["core_hours"] is not None and record["core_hours"] >= 0
