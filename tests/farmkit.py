"""Helpers for tests that drive the farm over HTTP like a worker or a client would."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

#: a stand-in .blend for tests that never render it: Blender's header, then nothing Blender can
#: read (submit accepts it, with a warning that analysis could not read the scene).
UNREADABLE_BLEND = b"BLENDER-v304" + b"\x00" * 64


def register_worker(
    url: str,
    join_key: str,
    name: str = "w",
    software: list[dict[str, Any]] | None = None,
    tags: list[str] | None = None,
) -> httpx.Client:
    """Register a simulated worker; returns an HTTP client carrying its token."""
    soft = (
        software
        if software is not None
        else [{"name": "blender", "version": "3.4.1"}, {"name": "command", "version": "1"}]
    )
    reply = httpx.post(
        f"{url}/api/worker/register",
        json={"name": name, "software": soft, "tags": tags or []},
        headers={"Authorization": f"Bearer {join_key}"},
        timeout=30,
    )
    reply.raise_for_status()
    return httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {reply.json()['token']}"}, timeout=30
    )


def upload(client: httpx.Client, path: str, data: bytes) -> str:
    """Upload one file's content and record it at `path` in the account tree; returns its hash."""
    digest = hashlib.sha256(data).hexdigest()
    entry = {"path": path, "size": len(data), "hash": digest}
    check = client.post("/api/files/check", json={"files": [entry]})
    check.raise_for_status()
    if digest in check.json()["missing"]:
        put = client.put(
            f"/api/uploads/{digest}",
            params={"offset": 0, "total": len(data)},
            content=data,
            headers={"X-Chunk-Sha256": digest},
        )
        put.raise_for_status()
        client.post("/api/files/commit", json={"files": [entry]}).raise_for_status()
    return digest


def make_project(
    client: httpx.Client, name: str = "proj", soft: str = "command 1"
) -> dict[str, Any]:
    """Create a project with one plugin config."""
    reply = client.post(
        "/api/projects", json={"project_name": name, "plugins": [{"cg_soft_name": soft}]}
    )
    reply.raise_for_status()
    result: dict[str, Any] = reply.json()
    return result


def submit(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    """Submit a task; raises on error."""
    reply = client.post("/api/tasks", json=fields)
    assert reply.status_code == 201, reply.text
    result: dict[str, Any] = reply.json()
    return result
