"""The command job type runs any program on the render nodes: only trusted accounts may use it.

Every way in is tried as an untrusted account (REST API, web forms, the vendor's `/api/v1/task`),
then the same account is trusted (admin API, CLI) and the legitimate path works; untrust takes
effect at once. Project sandbox rights are the administrators' alone and travel in each lease.
"""

from __future__ import annotations

import json
from contextlib import closing
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from foxden.cli import main
from foxden.client.api import Client
from foxden.db.schema import accounts
from tests.conftest import LiveServer
from tests.farmkit import register_worker, submit, upload
from tests.web.webkit import form_token, login

REFUSAL = "only accounts an administrator trusts may use it (foxden account trust mallory)"
TASK = {"project_name": "cmd", "input_scene_path": "/v/m/scene.txt", "frames": "1-2"}


def _vendor(live: LiveServer, key: str, action: str, body: dict[str, Any]) -> httpx.Response:
    head = {"account": "mallory", "access_key": key, "action": action}
    return live.client().post("/api/v1/task", json={"head": head, "body": body})


def _refused(reply: httpx.Response) -> None:
    if reply.url.path == "/api/v1/task":  # the vendor's endpoint: HTTP 200, the 403 in its head
        assert reply.status_code == 200, reply.text
        assert reply.json()["head"]["error_code"] == "403", reply.text
    else:
        assert reply.status_code == 403, reply.text
    assert REFUSAL in reply.text


def _cli(live: LiveServer, capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    database = ["--database-url", str(live.farm.settings.database_url)]
    capsys.readouterr()
    assert main([*argv, "--data-dir", str(live.data_dir), *database]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def _setup(live: LiveServer) -> tuple[str, httpx.Client, httpx.Client]:
    """A worker offering blender and command, and mallory (untrusted) with a blender project."""
    register_worker(live.url, live.farm.join_key)
    key = live.new_account("mallory")
    mallory = live.client(key)
    mallory.post(
        "/api/projects", json={"project_name": "art", "plugins": [{"cg_soft_name": "blender 3.4"}]}
    ).raise_for_status()
    upload(mallory, "/v/m/scene.txt", b"echo stolen")
    return key, mallory, live.client(live.admin_key)


def test_untrusted_account_cannot_use_command_any_way(live_server: LiveServer) -> None:
    key, mallory, admin = _setup(live_server)
    # REST API: a command project, a command config, a config changed to command
    _refused(
        mallory.post(
            "/api/projects",
            json={"project_name": "cmd", "plugins": [{"cg_soft_name": "command 1"}]},
        )
    )
    _refused(mallory.post("/api/projects/art/configs", json={"cg_soft_name": "command"}))
    art = mallory.get("/api/projects/art").json()
    config_id = art["plugins"][0]["config_id"]
    _refused(
        mallory.patch(f"/api/projects/art/configs/{config_id}", json={"cg_soft_name": "command 1"})
    )
    # the vendor's endpoint: the same three
    _refused(
        _vendor(
            live_server,
            key,
            "create_project",
            {"project_name": "cmd", "plugins": [{"cg_soft_name": "command 1"}]},
        )
    )
    _refused(
        _vendor(
            live_server,
            key,
            "operate_project",
            {"project_name": "art", "operate_type": 0, "cg_soft_name": "command 1"},
        )
    )
    _refused(
        _vendor(
            live_server,
            key,
            "operate_project",
            {
                "project_name": "art",
                "operate_type": 1,
                "config_id": config_id,
                "cg_soft_name": "command 1",
            },
        )
    )
    # the web site: the new-project form and the add-software form
    web, token = login(live_server.url, "mallory", key)
    with closing(web):
        page = web.post(
            "/projects",
            data={"csrf_token": token, "project_name": "cmd", "cg_soft_name": "command 1"},
        )
        assert page.status_code == 403 and REFUSAL in page.text
        page = web.post(
            "/projects/art/configs", data={"csrf_token": token, "cg_soft_name": "command 1"}
        )
        assert page.url.path == "/projects/art" and REFUSAL in page.text
    # nothing of it happened
    assert [p["project_name"] for p in mallory.get("/api/projects").json()] == ["art"]
    assert [c["cg_soft_name"] for c in mallory.get("/api/projects/art").json()["plugins"]] == [
        "blender 3.4"
    ]
    # a command project made while trusted cannot be used once the trust is gone
    admin.post("/api/accounts/mallory/trust", json={"trusted": True}).raise_for_status()
    made = mallory.post(
        "/api/projects", json={"project_name": "cmd", "plugins": [{"cg_soft_name": "command 1"}]}
    )
    assert made.status_code == 201, made.text
    admin.post("/api/accounts/mallory/trust", json={"trusted": False}).raise_for_status()
    _refused(mallory.post("/api/tasks", json=TASK))
    _refused(_vendor(live_server, key, "create_task", TASK))
    cmd_config = made.json()["plugins"][0]["config_id"]
    _refused(mallory.patch(f"/api/projects/cmd/configs/{cmd_config}", json={"is_default": True}))
    web, token = login(live_server.url, "mallory", key)
    with closing(web):
        page = web.post(f"/projects/cmd/configs/{cmd_config}/default", data={"csrf_token": token})
        assert page.status_code == 403 and REFUSAL in page.text
    assert mallory.get("/api/tasks").json()["total"] == 0
    # removing the command config is always allowed (it takes a privilege away)
    assert mallory.delete(f"/api/projects/cmd/configs/{cmd_config}").status_code == 200


def test_trust_makes_it_work_and_untrust_stops_it_at_once(
    live_server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    key, mallory, admin = _setup(live_server)
    # nobody but an administrator trusts: not mallory herself, not another user
    alice = live_server.client(live_server.user_key)
    for who in (mallory, alice):
        reply = who.post("/api/accounts/mallory/trust", json={"trusted": True})
        assert reply.status_code == 403 and "administrator" in reply.text
    assert mallory.get("/api/me").json()["trusted"] is False
    # trusted through the admin API: a command project and task, over REST and the vendor's API
    trusted = admin.post("/api/accounts/mallory/trust", json={"trusted": True})
    assert trusted.status_code == 200 and trusted.json()["trusted"] is True
    assert mallory.get("/api/me").json()["trusted"] is True
    made = mallory.post(
        "/api/projects", json={"project_name": "cmd", "plugins": [{"cg_soft_name": "command 1"}]}
    )
    assert made.status_code == 201, made.text
    first = submit(mallory, **TASK)
    assert first["job_type"] == "command" and first["status"] == "queued"
    vendor = _vendor(live_server, key, "create_task", TASK)
    assert vendor.status_code == 200 and vendor.json()["head"]["result"] == "0", vendor.text
    second = vendor.json()["body"]["data"][0]["task_id"]
    # untrusted: refused at once, and its queued command tasks stop (and cannot be resumed)
    untrusted = admin.post("/api/accounts/mallory/trust", json={"trusted": False})
    assert untrusted.json()["trusted"] is False
    assert sorted(untrusted.json()["stopped_tasks"]) == sorted([first["id"], second])
    _refused(mallory.post("/api/tasks", json=TASK))
    for task_id in (first["id"], second):
        assert mallory.get(f"/api/tasks/{task_id}").json()["status"] == "stopped"
        _refused(mallory.post(f"/api/tasks/{task_id}/resume"))
    # a worker gets none of it
    worker = register_worker(live_server.url, live_server.farm.join_key, name="w2")
    assert worker.post("/api/worker/claim", json={}).status_code == 204
    # trusted through the CLI: the same account works again, its stopped task resumes
    record = _cli(live_server, capsys, "account", "trust", "mallory")
    assert record["name"] == "mallory" and record["trusted"] is True
    assert mallory.post(f"/api/tasks/{first['id']}/resume").status_code == 200
    assert submit(mallory, **TASK)["job_type"] == "command"
    lease = worker.post("/api/worker/claim", json={}).json()
    assert lease["task"]["job_type"] == "command"
    # and untrusted through the CLI
    record = _cli(live_server, capsys, "account", "untrust", "mallory")
    assert record["trusted"] is False
    _refused(mallory.post("/api/tasks", json=TASK))
    _refused(_vendor(live_server, key, "create_task", TASK))
    # administrators may use the command job type without being marked
    admin.post(
        "/api/projects", json={"project_name": "ops", "plugins": [{"cg_soft_name": "command 1"}]}
    ).raise_for_status()


def test_project_rights_are_the_admins_and_travel_with_the_lease(
    live_server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    worker = register_worker(
        live_server.url, live_server.farm.join_key, software=[{"name": "command", "version": "1"}]
    )
    alice = live_server.client(live_server.user_key)
    admin = live_server.client(live_server.admin_key)
    alice.post(
        "/api/projects", json={"project_name": "p", "plugins": [{"cg_soft_name": "command 1"}]}
    ).raise_for_status()
    upload(alice, "/v/a/scene.txt", b"echo hi")
    task = {"project_name": "p", "input_scene_path": "/v/a/scene.txt", "chunk_size": 1}

    def claim() -> dict[str, Any]:
        reply = worker.post("/api/worker/claim", json={})
        assert reply.status_code == 200, reply.text
        lease: dict[str, Any] = reply.json()
        worker.post(f"/api/worker/leases/{lease['lease_id']}/release").raise_for_status()
        return {k: lease["task"][k] for k in ("allow_network", "allow_scripts")}

    # by default: no network, no scripts; the owner sees that and cannot change it
    record = alice.get("/api/projects/p").json()
    assert (record["allow_network"], record["allow_scripts"]) == (False, False)
    url = "/api/accounts/alice/projects/p/sandbox"
    for body in ({"allow_network": True}, {"allow_scripts": True}):
        reply = alice.patch(url, json=body)
        assert reply.status_code == 403 and "administrator" in reply.text
    submitted = submit(alice, frames="1-6", **task)
    assert claim() == {"allow_network": False, "allow_scripts": False}
    # an administrator allows the network (API): the next lease carries it
    reply = admin.patch(url, json={"allow_network": True})
    assert reply.json() == {
        "account": "alice",
        "project_name": "p",
        "allow_network": True,
        "allow_scripts": False,
    }
    assert alice.get("/api/projects/p").json()["allow_network"] is True
    with Client(live_server.url, live_server.user_key, progress=False) as client:
        typed = client.project("p")
        assert (typed.allow_network, typed.allow_scripts) == (True, False)
        assert client.me().trusted is True
    assert claim() == {"allow_network": True, "allow_scripts": False}
    # the CLI: scripts on, network off
    out = _cli(
        live_server,
        capsys,
        "project",
        "allow",
        "--account",
        "alice",
        "--project",
        "p",
        "--no-network",
        "--scripts",
    )
    assert (out["allow_network"], out["allow_scripts"]) == (False, True)
    assert claim() == {"allow_network": False, "allow_scripts": True}
    # unknown accounts and projects are named
    assert admin.patch("/api/accounts/alice/projects/nope/sandbox", json={}).status_code == 404
    assert admin.patch("/api/accounts/nobody/projects/p/sandbox", json={}).status_code == 404
    # a task whose project is gone renders with no rights
    admin.patch(url, json={"allow_network": True}).raise_for_status()
    alice.delete("/api/projects/p").raise_for_status()
    assert claim() == {"allow_network": False, "allow_scripts": False}
    assert submitted["id"] > 0


def test_accounts_page_trusts_with_a_form(live_server: LiveServer) -> None:
    register_worker(live_server.url, live_server.farm.join_key)
    key = live_server.new_account("mallory")
    live_server.client(key).post(
        "/api/projects", json={"project_name": "art", "plugins": [{"cg_soft_name": "blender 3.4"}]}
    ).raise_for_status()
    # a user sees neither the page nor the link, and cannot post its forms
    web, token = login(live_server.url, "mallory", key)
    with closing(web):
        assert 'href="/accounts"' not in web.get("/projects").text
        assert web.get("/accounts").status_code == 403
        assert web.get("/accounts/mallory").status_code == 403
        reply = web.post("/accounts/mallory/trust", data={"csrf_token": token, "trusted": "1"})
        assert reply.status_code == 403
        reply = web.post(
            "/accounts/mallory/projects/art/sandbox",
            data={"csrf_token": token, "allow_network": "on"},
        )
        assert reply.status_code == 403
        page = web.get("/projects/art")
        assert "Network: <strong data-allow-network>not allowed" in page.text
        assert "/sandbox" not in page.text  # read-only for the owner
    assert live_server.client(key).get("/api/me").json()["trusted"] is False
    # the administrator's page lists accounts with their trust and a button
    web, token = login(live_server.url, "admin", live_server.admin_key)
    with closing(web):
        page = web.get("/accounts")
        assert page.status_code == 200 and 'href="/accounts"' in page.text
        row = page.text.split('data-account="mallory"')[1].split("</tr>")[0]
        assert "<td data-trusted>no</td>" in row and "Trust<span" in row
        # without the session's CSRF token nothing happens
        bad = web.post("/accounts/mallory/trust", data={"csrf_token": "forged", "trusted": "1"})
        assert bad.status_code == 403
        assert live_server.client(key).get("/api/me").json()["trusted"] is False
        done = web.post(
            "/accounts/mallory/trust",
            data={"csrf_token": form_token(page.text), "trusted": "1", "next": "/accounts"},
        )
        assert done.url.path == "/accounts" and "mallory is trusted" in done.text
        row = done.text.split('data-account="mallory"')[1].split("</tr>")[0]
        assert "<td data-trusted>yes</td>" in row and "Untrust<span" in row
        assert live_server.client(key).get("/api/me").json()["trusted"] is True
        # the account's page sets its projects' sandbox rights
        page = web.get("/accounts/mallory")
        assert "art" in page.text and 'name="allow_network"' in page.text
        saved = web.post(
            "/accounts/mallory/projects/art/sandbox",
            data={"csrf_token": token, "allow_network": "on", "next": "/accounts/mallory"},
        )
        assert saved.url.path == "/accounts/mallory" and "network allowed" in saved.text
        rights = live_server.client(key).get("/api/projects/art").json()
        assert (rights["allow_network"], rights["allow_scripts"]) == (True, False)
        # an off-site `next` is ignored
        away = web.post(
            "/accounts/mallory/trust",
            data={"csrf_token": token, "trusted": "0", "next": "https://evil.example/"},
        )
        assert away.url.path == "/accounts" and "no longer trusted" in away.text


def test_command_tasks_of_an_untrusted_account_never_reach_a_worker(
    live_server: LiveServer,
) -> None:
    """A command task queued while the farm had no trusted accounts (an upgraded farm), or
    whose account lost its trust behind the farm's back, waits: the claim itself checks."""
    _key, mallory, admin = _setup(live_server)
    admin.post("/api/accounts/mallory/trust", json={"trusted": True}).raise_for_status()
    mallory.post(
        "/api/projects", json={"project_name": "cmd", "plugins": [{"cg_soft_name": "command 1"}]}
    ).raise_for_status()
    task = submit(mallory, **TASK)
    with live_server.farm.db.write() as conn:  # no untrust sweep: the task stays queued
        conn.execute(update(accounts).where(accounts.c.name == "mallory").values(trusted=False))
    worker = register_worker(live_server.url, live_server.farm.join_key, name="w2")
    assert worker.post("/api/worker/claim", json={}).status_code == 204
    assert mallory.get(f"/api/tasks/{task['id']}").json()["status"] == "queued"
    # trusted again: the same task is handed out
    admin.post("/api/accounts/mallory/trust", json={"trusted": True}).raise_for_status()
    lease = worker.post("/api/worker/claim", json={})
    assert lease.status_code == 200 and lease.json()["task"]["id"] == task["id"]
