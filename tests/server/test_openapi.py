"""The committed OpenAPI document is the one the server serves."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

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
