"""Projects and plugin configs over HTTP; the software on offer comes from registered workers."""

from __future__ import annotations

from tests.conftest import LiveServer
from tests.farmkit import register_worker


def test_project_lifecycle(live_server: LiveServer) -> None:
    user = live_server.client(live_server.user_key)
    r = user.post(
        "/api/projects",
        json={"project_name": "shots", "plugins": [{"cg_soft_name": "blender 3.4"}]},
    )
    assert (
        r.status_code == 400
        and "no worker of this farm offers 'blender 3.4'" in r.json()["error"]["message"]
    )
    register_worker(live_server.url, live_server.farm.join_key)
    offer = user.get("/api/software").json()
    assert {"cg_soft_name": "blender 3.4", "plugins": []} in offer
    r = user.post(
        "/api/projects",
        json={
            "project_name": "shots",
            "project_path": "/v/shots",
            "remark": "first",
            "plugins": [{"cg_soft_name": "blender 3.4", "plugin_name": "cycles"}],
        },
    )
    assert r.status_code == 201, r.text
    project = r.json()
    assert (
        project["plugins"][0]["is_default"] is True
        and project["plugins"][0]["plugin_name"] == "cycles"
    )
    assert user.post("/api/projects", json={"project_name": "shots"}).status_code == 409
    r = user.post(
        "/api/projects/shots/configs", json={"cg_soft_name": "command", "is_default": True}
    )
    configs = r.json()["plugins"]
    assert [c["is_default"] for c in configs] == [False, True]
    first = configs[0]["config_id"]
    r = user.patch(
        f"/api/projects/shots/configs/{first}",
        json={"is_default": True, "plugin_name": "cycles,eevee"},
    )
    assert [c["is_default"] for c in r.json()["plugins"]] == [True, False]
    r = user.delete(f"/api/projects/shots/configs/{first}")
    assert [c["is_default"] for c in r.json()["plugins"]] == [True]
    r = user.patch("/api/projects/shots", json={"project_name": "shots2", "remark": "renamed"})
    assert r.json()["project_name"] == "shots2" and r.json()["remark"] == "renamed"
    assert user.get("/api/projects/shots").status_code == 404
    assert [p["project_name"] for p in user.get("/api/projects").json()] == ["shots2"]
    assert user.delete("/api/projects/shots2").status_code == 204
    assert user.get("/api/projects").json() == []


def test_bad_project_input(live_server: LiveServer) -> None:
    user = live_server.client(live_server.user_key)
    assert user.post("/api/projects", json={"project_name": "a/b"}).status_code == 400
    assert user.post("/api/projects", json={}).status_code == 422
    r = user.post("/api/projects", json={"project_name": "p", "plugins": [{"cg_soft_name": "!!"}]})
    assert r.status_code == 400 and "cg_soft_name" in r.json()["error"]["message"]
    assert user.delete("/api/projects/nope").status_code == 404
    assert user.post("/api/projects/nope/configs", json={"cg_soft_name": "x"}).status_code in (
        400,
        404,
    )
