"""A farm with tasks for the SDK's query and operate calls: alice's tasks submitted through
foxden's REST API, frames moved by simulated workers over the worker API, the SDK's calls
signed as alice (or another account)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import httpx

from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, submit, upload
from tests.rayvision_kit import SdkCaller, sdk_caller

INFO = "/api/render/handle/queryTaskInfo/v2"
LIST = "/api/render/handle/getTaskList/v2"
FRAMES = "/api/render/handle/queryTaskFrames"


@dataclass
class Farm:
    """alice's REST client and SDK caller on a live farm."""

    live: LiveServer
    user: httpx.Client
    sdk: SdkCaller
    workers: int = 0

    def submit(self, frames: str = "1-3", **fields: Any) -> int:
        """A task of alice's on the uploaded scene (every frame in one chunk, one attempt)."""
        fields.setdefault("chunk_size", 100)
        fields.setdefault("max_attempts", 1)
        fields.setdefault("project_name", "proj")
        fields.setdefault("input_scene_path", "/v/p/scene.txt")
        task = submit(self.user, frames=frames, **fields)
        return int(task["id"])

    def render(
        self, task_id: int, outcome: dict[int, str] | None = None, thumbnail: bool = False
    ) -> None:
        """One worker claims `task_id`'s frames and reports each as `outcome` says (done when
        not named), with a log line; done frames get an output (and a thumbnail if asked)."""
        self.workers += 1
        worker = register_worker(self.live.url, self.live.farm.join_key, name=f"w{self.workers}")
        lease = worker.post("/api/worker/claim", json={}).json()
        assert lease["task"]["id"] == task_id, lease
        image = f"image of task {task_id}".encode()
        digest = hashlib.sha256(image).hexdigest()
        worker.put(
            f"/api/worker/blobs/{digest}", params={"lease": lease["lease_id"]}, content=image
        ).raise_for_status()
        results = []
        for number in lease["frames"]:
            status = (outcome or {}).get(number, "done")
            result: dict[str, Any] = {
                "frame": number,
                "status": status,
                "log": f"rendering frame {number}\nframe {number} {status}\n",
            }
            if status == "done":
                output = {"name": f"scene_{number:04d}.png", "hash": digest, "size": len(image)}
                if thumbnail:
                    output["thumbnail"] = digest
                result["outputs"] = [output]
            else:
                result["error"] = f"frame {number} crashed"
            results.append(result)
        reply = worker.post(
            f"/api/worker/leases/{lease['lease_id']}/frames", json={"results": results}
        )
        reply.raise_for_status()
        assert not reply.json()["rejected"], reply.text

    def info(self, task_id: int) -> dict[str, Any]:
        """The task's record as queryTaskInfo/v2 gives it."""
        items = self.sdk.call(INFO, {"taskIds": [task_id]})["items"]
        assert len(items) == 1, items
        record: dict[str, Any] = items[0]
        return record

    def frames(self, task_id: int) -> dict[str, dict[str, Any]]:
        """The task's frames by frameIndex (the first page of 1000)."""
        page = self.sdk.call(FRAMES, {"taskId": task_id, "pageNum": 1, "pageSize": 1000})
        return {f["frameIndex"]: f for f in page["items"]}

    def other(self, name: str = "bob") -> SdkCaller:
        """An SDK caller for another account."""
        return sdk_caller(self.live.url, self.live.new_account(name))


def farm_of(live: LiveServer, key: str | None = None) -> Farm:
    """alice (or the account of `key`) with a project ('command 1') and a scene; the first
    time, a worker that offers the software."""
    if key is None:
        register_worker(live.url, live.farm.join_key, name="seed")
    user = live.client(key or live.user_key)
    make_project(user, "proj")
    upload(user, "/v/p/scene.txt", b"scene")
    return Farm(live=live, user=user, sdk=sdk_caller(live.url, key or live.user_key))
