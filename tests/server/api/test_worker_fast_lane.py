"""The worker's hot routes are served ahead of the app's middleware and routing
(`worker_routes.FastLane`), behind every check the other routes have: body caps, token,
validation, methods; an error no handler takes is a 500."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import NoReturn

import httpx
import pytest

from foxden.farm import scheduler
from foxden.server.api.worker_routes import FastLane
from tests.conftest import farm_settings, running_server

MB = 1 << 20
LEAN = {
    "/api/worker/claim",
    "/api/worker/claims",
    "/api/worker/leases/{lease_id}/heartbeat",
    "/api/worker/leases/{lease_id}/frames",
}


def test_the_hot_routes_are_matched_first_behind_the_same_checks(
    db_url: str, tmp_path: Path
) -> None:
    settings = farm_settings(db_url, tmp_path, max_json_bytes=64 * 1024, max_manifest_bytes=MB)
    with running_server(settings) as live:
        lane = live.app.lane
        assert isinstance(lane, FastLane)
        assert {r.path for r in lane.routes} == LEAN
        assert live.app.url_path_for("claim") == "/api/worker/claim"  # the lane names nothing

        joined = httpx.post(
            f"{live.url}/api/worker/register",
            headers={"Authorization": f"Bearer {live.farm.join_key}"},
            json={"name": "w", "software": [{"name": "command", "version": "1"}]},
        )
        assert joined.status_code == 201, joined.text
        worker = live.client(joined.json()["token"])
        json_type = {"Content-Type": "application/json"}

        assert worker.post("/api/worker/claim", json={}).status_code == 204
        assert worker.post("/api/worker/claims", json={"slots": 2}).status_code == 204

        # a claim gets the JSON cap
        big = json.dumps({"slots": 1, "pad": "z" * (100 * 1024)}).encode()
        reply = worker.post("/api/worker/claim", content=big, headers=json_type)
        assert reply.status_code == 413 and "65536" in reply.json()["error"]["message"]
        # a report gets the manifest cap: over the JSON cap is read, over the manifest cap is not
        results = [{"frame": i, "status": "done", "render_time": 0} for i in range(3000)]
        middling = json.dumps({"results": results}).encode()
        assert 64 * 1024 < len(middling) < MB
        reply = worker.post("/api/worker/leases/1/frames", content=middling, headers=json_type)
        assert reply.status_code not in (413, 500), reply.text
        huge = json.dumps({"results": results * 20}).encode()
        reply = worker.post("/api/worker/leases/1/frames", content=huge, headers=json_type)
        assert reply.status_code == 413
        reply = worker.post("/api/worker/leases/1/heartbeat", content=huge, headers=json_type)
        assert reply.status_code == 413

        # validation in the shape of every other route
        reply = worker.post("/api/worker/claim", json={"slots": 0})
        assert reply.status_code == 422 and reply.json()["error"]["code"] == "bad_request"
        reply = worker.post("/api/worker/leases/abc/frames", json={"results": []})
        assert reply.status_code == 422 and "lease_id" in reply.json()["error"]["message"]
        # the token, checked as before
        reply = httpx.post(f"{live.url}/api/worker/claim", json={})
        assert reply.status_code == 401 and reply.headers["WWW-Authenticate"] == "Bearer"
        reply = live.client("not-a-token").post("/api/worker/leases/1/heartbeat", json={})
        assert reply.status_code == 401
        # what the lane does not match goes on to the app's routing: a wrong method, other routes
        reply = worker.get("/api/worker/claim")
        assert reply.status_code == 405 and "POST" in reply.headers["Allow"]
        assert worker.post("/api/worker/leases/1/release").json() == {"released": 0}
        assert worker.post("/api/worker/nothing", json={}).status_code == 404


def test_an_unexpected_error_in_a_lean_route_is_a_logged_500_and_the_lane_goes_on(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: object, **_kw: object) -> NoReturn:
        raise RuntimeError("the heartbeat broke")

    with running_server(farm_settings(db_url, tmp_path)) as live:
        joined = httpx.post(
            f"{live.url}/api/worker/register",
            headers={"Authorization": f"Bearer {live.farm.join_key}"},
            json={"name": "w", "software": [{"name": "command", "version": "1"}]},
        )
        worker = live.client(joined.json()["token"])
        monkeypatch.setattr(scheduler, "heartbeat", broken)
        with caplog.at_level(logging.ERROR, logger="foxden.server"):
            reply = worker.post("/api/worker/leases/1/heartbeat", json={})
        assert reply.status_code == 500 and reply.text == "Internal Server Error"
        assert any("the heartbeat broke" in str(r.exc_info) for r in caplog.records)
        monkeypatch.undo()
        assert worker.post("/api/worker/leases/1/heartbeat", json={}).status_code == 410  # no lease
        assert worker.post("/api/worker/claim", json={}).status_code == 204
