"""Accounts over HTTP: keys are stored hashed, 401/403, admin-only lists, rotation."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from foxden.db.schema import accounts
from foxden.farm.accounts import set_disabled
from tests.conftest import LiveServer
from tests.farmkit import register_worker


def test_missing_wrong_and_disabled_keys(live_server: LiveServer) -> None:
    anon = live_server.client()
    r = anon.get("/api/me")
    assert r.status_code == 401 and "missing access key" in r.json()["error"]["message"]
    r = live_server.client("fdk_wrong").get("/api/me")
    assert r.status_code == 401 and "wrong access key" in r.json()["error"]["message"]
    r = anon.get("/api/me", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401
    assert live_server.client(live_server.user_key).get("/api/me").json()["name"] == "alice"
    set_disabled(live_server.farm.db, "alice", True)
    r = live_server.client(live_server.user_key).get("/api/me")
    assert r.status_code == 403 and "disabled" in r.json()["error"]["message"]
    with live_server.farm.db.read() as conn:
        hashes = conn.execute(select(accounts.c.key_hash)).scalars().all()
    assert live_server.user_key not in hashes and all(len(h) == 64 for h in hashes)


def test_admins_list_accounts_and_workers_users_cannot(live_server: LiveServer) -> None:
    register_worker(live_server.url, live_server.farm.join_key, name="node-1")
    admin = live_server.client(live_server.admin_key)
    user = live_server.client(live_server.user_key)
    names = [a["name"] for a in admin.get("/api/accounts").json()]
    assert names == ["admin", "alice"]
    assert "key_hash" not in admin.get("/api/accounts").json()[0]
    workers = admin.get("/api/workers").json()
    assert [w["name"] for w in workers] == ["node-1"] and workers[0]["status"] == "idle"
    for path in ("/api/accounts", "/api/workers"):
        r = user.get(path)
        assert r.status_code == 403 and "administrator" in r.json()["error"]["message"]
    created = admin.post("/api/accounts", json={"name": "dave"})
    assert created.status_code == 201
    dave = live_server.client(created.json()["access_key"])
    assert dave.get("/api/me").json()["name"] == "dave"
    assert user.post("/api/accounts", json={"name": "eve"}).status_code == 403


def test_worker_join_key_and_tokens(live_server: LiveServer) -> None:
    r = live_server.client().post(
        "/api/worker/register", json={"name": "x"}, headers={"Authorization": "Bearer nope"}
    )
    assert r.status_code == 401 and "join key" in r.json()["error"]["message"]
    worker = register_worker(live_server.url, live_server.farm.join_key)
    # a worker token is good for worker endpoints only
    assert worker.get("/api/me").status_code == 401
    assert worker.get("/api/tasks").status_code == 401
    # an access key is not a worker token
    assert (
        live_server.client(live_server.user_key).post("/api/worker/claim", json={}).status_code
        == 401
    )
    assert (live_server.data_dir / "join_key").read_text().strip() == live_server.farm.join_key


def test_rotating_a_key_ends_the_old_one(live_server: LiveServer, tmp_path: Path) -> None:
    user = live_server.client(live_server.user_key)
    new = user.post("/api/me/key").json()
    assert new["account"] == "alice" and new["access_key"] != live_server.user_key
    assert live_server.client(live_server.user_key).get("/api/me").status_code == 401
    fresh = live_server.client(new["access_key"])
    assert fresh.get("/api/me").json()["name"] == "alice"
    # an admin can rotate anyone's key; a user cannot rotate another's
    assert fresh.post("/api/accounts/admin/key").status_code == 403
    admin = live_server.client(live_server.admin_key)
    again = admin.post("/api/accounts/alice/key").json()["access_key"]
    assert fresh.get("/api/me").status_code == 401
    assert live_server.client(again).get("/api/me").status_code == 200
    assert admin.post("/api/accounts/nobody/key").status_code == 404
