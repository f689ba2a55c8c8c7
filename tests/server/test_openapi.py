"""The committed OpenAPI document is the one the server serves."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from tests.conftest import LiveServer

ROOT = Path(__file__).resolve().parents[2]


def test_committed_openapi_is_current() -> None:
    spec = importlib.util.spec_from_file_location(
        "export_openapi", ROOT / "scripts" / "export_openapi.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (ROOT / "docs" / "openapi.json").read_text()
    assert committed == module.render(), (
        "docs/openapi.json is stale: run python scripts/export_openapi.py"
    )


def test_server_serves_openapi(live_server: LiveServer) -> None:
    served = live_server.client().get("/openapi.json").json()
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert served["paths"].keys() == committed["paths"].keys()
    assert "/api/worker/claim" in served["paths"] and "/api/tasks" in served["paths"]


def test_no_page_loads_scripts_from_the_internet(live_server: LiveServer) -> None:
    client = live_server.client()
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404


def _spec() -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location(
        "export_openapi", ROOT / "scripts" / "export_openapi.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    document: dict[str, Any] = json.loads(module.render())
    return document


def _vague(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    """Whether a reply schema says nothing of its shape: missing, `{}` or a bare object."""
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    if schema.get("type") == "array":
        return _vague(schema.get("items", {}), components)
    if any(key in schema for key in ("anyOf", "oneOf")):
        return any(_vague(s, components) for s in schema.get("anyOf", schema.get("oneOf", [])))
    if schema.get("type") in ("string", "integer", "number", "boolean"):
        return False
    return not schema.get("properties")


def test_every_route_declares_the_shape_of_its_reply() -> None:
    spec = _spec()
    components = spec["components"]["schemas"]
    missing = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            success = {c: r for c, r in operation["responses"].items() if c.startswith("2")}
            if not success:
                missing.append(f"{method.upper()} {path}: no success reply")
            for code, reply in success.items():
                if code == "204":
                    continue  # no content, by definition
                content = reply.get("content") or {}
                if not content:
                    missing.append(f"{method.upper()} {path}: {code} has no content")
                for media, body in content.items():
                    if _vague(body.get("schema", {}), components):
                        missing.append(f"{method.upper()} {path}: {code} {media} says nothing")
    assert not missing, "routes without a reply schema:\n" + "\n".join(missing)


def test_the_worker_protocol_replies_are_the_wire_shapes() -> None:
    components = _spec()["components"]["schemas"]
    for name in ("LeaseOut", "TaskInfo", "InputFile", "HeartbeatOut", "ReportOut", "TaskOut"):
        assert components[name]["properties"], name
    assert set(components["LeaseOut"]["required"]) == {
        "lease_id",
        "lease_seconds",
        "heartbeat_seconds",
        "frames",
        "task",
        "inputs",
    }
