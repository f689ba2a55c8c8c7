"""A simulated render node for client tests: claims frames over HTTP and "renders" PNGs.

Each frame's image depends on the frame number, the camera, the render layer and the scene's
content, so frames differ from each other and a test can tell which options reached the worker.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from pathlib import PurePosixPath
from typing import Any

import httpx
from PIL import Image, ImageDraw

from tests.farmkit import register_worker


def render_png(frame: int, camera: str, layer: str, scene: bytes) -> bytes:
    """A small PNG that differs per frame (a moving square) and per scene/camera/layer."""
    seed = hashlib.sha256(scene + camera.encode() + layer.encode()).digest()
    img = Image.new("RGB", (64, 48), (seed[0], seed[1], seed[2]))
    draw = ImageDraw.Draw(img)
    x = (frame * 7) % 56
    draw.rectangle([x, 10, x + 8, 30], fill=(255, 255 - frame % 256, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


class SimWorker(threading.Thread):
    """Renders every frame it can claim until `stop()`."""

    def __init__(
        self, url: str, join_key: str, software: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(daemon=True)
        self.http: httpx.Client = register_worker(
            url, join_key, name="sim", software=software or [{"name": "command", "version": "1"}]
        )
        self._halt = threading.Event()
        self.rendered: list[tuple[int, int]] = []
        self.errors: list[BaseException] = []

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)
        self.http.close()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                reply = self.http.post("/api/worker/claim", json={})
                if reply.status_code == 204:
                    time.sleep(0.05)
                    continue
                reply.raise_for_status()
                self._render(reply.json())
            except BaseException as exc:  # surface failures to the test
                self.errors.append(exc)
                time.sleep(0.1)

    def _render(self, lease: dict[str, Any]) -> None:
        task = lease["task"]
        scene_hash = next(i["hash"] for i in lease["inputs"] if i["path"] == task["scene_path"])
        scene = self.http.get(f"/api/worker/blobs/{scene_hash}")
        scene.raise_for_status()
        stem = PurePosixPath(task["scene_path"]).stem
        results = []
        for frame in lease["frames"]:
            data = render_png(frame, task["camera"], task["render_layer"], scene.content)
            digest = hashlib.sha256(data).hexdigest()
            self.http.put(
                f"/api/worker/blobs/{digest}", params={"lease": lease["lease_id"]}, content=data
            ).raise_for_status()
            name = f"{stem}_{frame:04d}.png"
            results.append(
                {
                    "frame": frame,
                    "status": "done",
                    "render_time": 0.01,
                    "outputs": [{"name": name, "hash": digest, "size": len(data)}],
                }
            )
            self.rendered.append((task["id"], frame))
        self.http.post(
            f"/api/worker/leases/{lease['lease_id']}/frames", json={"results": results}
        ).raise_for_status()
