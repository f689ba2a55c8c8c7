"""Helpers for web tests: logging in over HTTP and a simulated worker thread."""

from __future__ import annotations

import hashlib
import io
import re
import threading
import time

import httpx
from PIL import Image

from tests.farmkit import register_worker


def form_token(html: str) -> str:
    """The CSRF token in the first form of a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def login(url: str, account: str, key: str, **kw: object) -> tuple[httpx.Client, str]:
    """A browser-like client logged in as `account`; returns it and the session's CSRF token."""
    client = httpx.Client(base_url=url, timeout=30, follow_redirects=True, **kw)  # type: ignore[arg-type]
    page = client.get("/login")
    reply = client.post(
        "/login", data={"csrf_token": form_token(page.text), "account": account, "access_key": key}
    )
    assert reply.status_code == 200 and "Logged in as" in reply.text, reply.text
    return client, form_token(client.get("/projects").text)


def png(number: int) -> bytes:
    """A small PNG, a different colour for each frame."""
    image = Image.new("RGB", (64, 36), ((number * 60) % 256, 120, 200 - (number * 30) % 200))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class SimWorker(threading.Thread):
    """A worker speaking the HTTP protocol: renders frames slowly, fails chosen frames once.

    A frame that failed before is not retried until `allow_retry` is set: the worker gives its
    lease back (no attempt spent), so the frame stays waiting for the test to see.
    """

    def __init__(
        self,
        url: str,
        join_key: str,
        *,
        fail_once: set[int],
        seconds: float = 0.5,
        name: str = "sim-1",
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.client = register_worker(url, join_key, name=name)
        self.fail_once = set(fail_once)
        self.seconds = seconds
        self.failed: set[int] = set()
        self.allow_retry = threading.Event()
        self.halt = threading.Event()
        self.errors: list[str] = []

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                reply = self.client.post("/api/worker/claim", json={"max_frames": 1})
                if reply.status_code == 204:
                    time.sleep(0.1)
                    continue
                reply.raise_for_status()
                self._work(reply.json())
        except Exception as exc:  # reported to the test
            self.errors.append(repr(exc))

    def _work(self, lease: dict[str, object]) -> None:
        lease_id = lease["lease_id"]
        frames = lease["frames"]
        assert isinstance(frames, list)
        if any(n in self.failed for n in frames) and not self.allow_retry.is_set():
            self.client.post(f"/api/worker/leases/{lease_id}/release").raise_for_status()
            time.sleep(0.2)
            return
        for n in frames:
            self.client.post(
                f"/api/worker/leases/{lease_id}/heartbeat",
                json={
                    "progress": {n: 0.5},
                    "logs": {n: f"Fra:{n} Mem:12M | Rendering 1 / 2 samples\n"},
                },
            ).raise_for_status()
            time.sleep(self.seconds)
            if n in self.fail_once and n not in self.failed:
                self.failed.add(n)
                result = {
                    "frame": n,
                    "status": "failed",
                    "error": "the renderer crashed",
                    "log": f"Fra:{n} Error: out of memory rendering frame {n}\n",
                }
            else:
                data = png(n)
                digest = hashlib.sha256(data).hexdigest()
                self.client.put(
                    f"/api/worker/blobs/{digest}", params={"lease": str(lease_id)}, content=data
                ).raise_for_status()
                result = {
                    "frame": n,
                    "status": "done",
                    "render_time": self.seconds,
                    "log": f"Fra:{n} Saved: frame_{n:04d}.png\n",
                    "outputs": [
                        {
                            "name": f"frame_{n:04d}.png",
                            "hash": digest,
                            "size": len(data),
                            "thumbnail": digest,
                        }
                    ],
                }
            self.client.post(
                f"/api/worker/leases/{lease_id}/frames", json={"results": [result]}
            ).raise_for_status()

    def stop(self) -> None:
        """End the loop and wait for it."""
        self.halt.set()
        if self.is_alive():
            self.join(timeout=10)
