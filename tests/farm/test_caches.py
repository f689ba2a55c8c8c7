"""The farm's in-memory caches (worker tokens, task payloads) and what a revocation does to them."""

from __future__ import annotations

from foxden.farm import workers
from foxden.farm.caches import PayloadCache, TokenCache
from foxden.farm.secrets import hash_secret
from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, submit, upload


def test_a_forgotten_worker_is_not_cached_again_by_a_read_from_before() -> None:
    tokens: TokenCache[str] = TokenCache(ttl=60)
    tokens.put("a", 1, "worker 1", tokens.stamp())
    tokens.put("b", 2, "worker 2", tokens.stamp())
    stamp = tokens.stamp()  # a request reads worker 1's row ...
    tokens.forget_worker(1)  # ... while an administrator revokes it
    tokens.put("a", 1, "worker 1", stamp)
    assert tokens.get("a") is None and tokens.get("b") == "worker 2"
    expired: TokenCache[str] = TokenCache(ttl=0)
    expired.put("a", 1, "worker 1", expired.stamp())
    assert expired.get("a") is None


def test_payloads_are_bounded_and_keyed_by_submission() -> None:
    payloads = PayloadCache(limit=2)
    for task_id in (1, 2, 3):
        payloads.put(task_id, 10.0, ({"id": task_id}, []))
    assert payloads.get(1, 10.0) is None  # the oldest went
    assert payloads.get(3, 10.0) == ({"id": 3}, [])
    assert payloads.get(3, 11.0) is None  # another task that got a deleted task's id


def test_a_revoked_workers_cached_token_stops_working_at_once(live_server: LiveServer) -> None:
    live = live_server
    worker = register_worker(live.url, live.farm.join_key, name="doomed")
    user = live.client(live.user_key)
    make_project(user)
    upload(user, "/v/p/scene.txt", b"scene")
    submit(user, project_name="proj", input_scene_path="/v/p/scene.txt", frames="1-2")
    lease = worker.post("/api/worker/claim", json={}).json()
    assert lease["task"]["id"] and len(live.farm.payloads._items) == 1
    token = str(worker.headers["authorization"]).split()[1]
    worker_id = workers.authenticate(live.farm.db, token).id
    assert live.farm.tokens.get(hash_secret(token)) is not None  # cached by the claim
    # revoked by another process (the CLI): this server's cache still knows the token, but
    # every transaction of the worker protocol refuses a revoked worker
    workers.revoke(live.farm.db, worker_id)
    heartbeat = worker.post(f"/api/worker/leases/{lease['lease_id']}/heartbeat", json={})
    assert heartbeat.status_code == 401, heartbeat.text
    assert worker.post("/api/worker/claim", json={}).status_code == 401
    # revoked by this server: the cache forgets the token at once
    other = register_worker(live.url, live.farm.join_key, name="other")
    assert other.post("/api/worker/claim", json={}).status_code == 200
    other_token = str(other.headers["authorization"]).split()[1]
    assert live.farm.tokens.get(hash_secret(other_token)) is not None
    revoked = live.client(live.admin_key).post(
        f"/api/workers/{workers.authenticate(live.farm.db, other_token).id}/revoke"
    )
    assert revoked.status_code == 200
    assert live.farm.tokens.get(hash_secret(other_token)) is None
    assert other.post("/api/worker/claim", json={}).status_code == 401
