"""Webhooks: a real receiver on loopback gets a real task's events, signed; retries back off;
one account never sees another's hooks or deliveries."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from foxden.db.schema import webhook_deliveries
from foxden.farm import webhooks
from foxden.farm.webhooks import Dispatcher
from tests.conftest import LiveServer, farm_settings, running_server
from tests.farmkit import make_project, register_worker, submit, upload


@dataclass
class Receiver:
    """A small HTTP server on loopback that records what it is sent and answers `answers`
    in turn (then 200)."""

    url: str
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _headers, body in self.got]


@pytest.fixture
def live(db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A real server whose own delivery thread waits an hour: the tests step the dispatcher.
    Its receivers are on loopback, so it allows private addresses."""
    settings = farm_settings(
        db_url, tmp_path, webhook_poll_seconds=3600, webhook_private_addresses=True
    )
    with running_server(settings) as server:
        yield server


@pytest.fixture
def live_thread(db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A real server whose own delivery thread sends (private addresses allowed)."""
    with running_server(farm_settings(db_url, tmp_path, webhook_private_addresses=True)) as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            rec = box["r"]
            headers = {k.lower(): v for k, v in self.headers.items()}
            rec.got.append(({**headers, "path": self.path}, body))
            status = rec.answers.pop(0) if rec.answers else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box["r"] = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hook")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box["r"]
    finally:
        server.shutdown()
        server.server_close()


class Clock:
    """An injected clock: backoff is stepped over, never slept through."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _dispatcher(live: LiveServer, clock: Clock | None = None) -> Dispatcher:
    import time

    return Dispatcher(
        live.farm.db, live.farm.sdk_box, clock=clock or Clock(time.time() + 1), allow_private=True
    )


def _project(user: httpx.Client) -> None:
    """The user's project "proj" (made once) and its scene."""
    if user.get("/api/projects/proj").status_code == 404:
        make_project(user, "proj")
    upload(user, "/v/p/scene.txt", b"scene")


def _run_task(live: LiveServer, user: httpx.Client, frames: str, fail: set[int], **kw: Any) -> int:
    """Submit a task and render it with a simulated worker: frames in `fail` fail for good."""
    worker = register_worker(live.url, live.farm.join_key)
    _project(user)
    task = submit(user, project_name="proj", input_scene_path="/v/p/scene.txt", frames=frames, **kw)
    while True:
        reply = worker.post("/api/worker/claim", json={})
        if reply.status_code == 204:
            break
        lease = reply.json()
        results = [
            {"frame": f, "status": "failed", "error": "camera 'CamC' not found"}
            if f in fail
            else {"frame": f, "status": "done", "render_time": 1.0}
            for f in lease["frames"]
        ]
        rep = worker.post(
            f"/api/worker/leases/{lease['lease_id']}/frames", json={"results": results}
        )
        assert rep.status_code == 200, rep.text
    return int(task["id"])


def test_a_real_receiver_gets_a_task_lifecycle_signed(live: LiveServer, receiver: Receiver) -> None:
    user = live.client(live.user_key)
    added = user.post("/api/webhooks", json={"url": receiver.url})
    assert added.status_code == 201, added.text
    secret = added.json()["secret"]
    assert secret.startswith("fdw_")
    assert "secret" not in user.get("/api/webhooks").json()[0]  # shown once only
    task_id = _run_task(live, user, "1-3", fail={2})
    assert user.get(f"/api/tasks/{task_id}").json()["status"] == "failed"
    dispatcher = _dispatcher(live)
    assert dispatcher.step() == 2
    events = receiver.events()
    assert [e["event"] for e in events] == ["frame_failed", "task_failed"]
    assert events[0]["task_id"] == task_id and events[0]["frame"] == 2
    assert "CamC" in events[0]["error"] and events[0]["failure_category"]
    assert events[1]["frames_done"] == 2 and events[1]["frames_failed"] == 1
    for headers, body in receiver.got:
        stamp, signature = headers["x-foxden-timestamp"], headers["x-foxden-signature"]
        assert webhooks.verify(secret, stamp, body, signature)
        assert not webhooks.verify("fdw_wrong", stamp, body, signature)
        assert not webhooks.verify(secret, stamp, body + b" ", signature)  # body tampered
        assert not webhooks.verify(secret, stamp, body, signature, now=float(stamp) + 3600)
    log = user.get("/api/webhooks/deliveries").json()
    assert {d["state"] for d in log} == {"delivered"} and all(d["attempts"] == 1 for d in log)
    assert {d["response_status"] for d in log} == {200}


def test_a_failing_receiver_is_retried_with_backoff(live: LiveServer, receiver: Receiver) -> None:
    import time

    user = live.client(live.user_key)
    user.post("/api/webhooks", json={"url": receiver.url, "events": ["task_done"]})
    _run_task(live, user, "1-2", fail=set())
    receiver.answers = [500]
    clock = Clock(time.time() + 1)
    dispatcher = _dispatcher(live, clock)
    assert dispatcher.step() == 1
    (first,) = user.get("/api/webhooks/deliveries").json()
    assert first["state"] == "pending" and first["attempts"] == 1
    assert first["response_status"] == 500 and "500" in first["last_error"]
    assert first["next_at"] == pytest.approx(clock.now + webhooks.backoff(1))
    assert dispatcher.step() == 0  # not due yet: nothing is sent before the backoff
    clock.now += webhooks.backoff(1) + 0.1
    assert dispatcher.step() == 1
    (second,) = user.get("/api/webhooks/deliveries").json()
    assert second["state"] == "delivered" and second["attempts"] == 2
    assert len(receiver.got) == 2 and receiver.got[0][1] == receiver.got[1][1]
    assert webhooks.backoff(2) == 2 * webhooks.backoff(1)
    assert webhooks.backoff(100) == webhooks.MAX_BACKOFF


def test_a_receiver_that_never_answers_is_given_up(live: LiveServer) -> None:
    import time

    user = live.client(live.user_key)
    user.post("/api/webhooks", json={"url": "http://127.0.0.1:9/nobody", "events": ["task_done"]})
    task_id = _run_task(live, user, "1", fail=set())
    assert user.get(f"/api/tasks/{task_id}").json()["status"] == "done"  # rendering unaffected
    clock = Clock(time.time() + 1)
    dispatcher = _dispatcher(live, clock)
    for _ in range(webhooks.MAX_ATTEMPTS):
        assert dispatcher.step() == 1
        clock.now += webhooks.MAX_BACKOFF + 1
    assert dispatcher.step() == 0
    (entry,) = user.get("/api/webhooks/deliveries").json()
    assert entry["state"] == "failed" and entry["attempts"] == webhooks.MAX_ATTEMPTS
    assert entry["response_status"] is None and entry["last_error"]


def test_a_task_webhook_at_submit(live: LiveServer, receiver: Receiver) -> None:
    user = live.client(live.user_key)
    register_worker(live.url, live.farm.join_key, name="seed")
    _project(user)
    refused = user.post(
        "/api/tasks",
        json={
            "project_name": "proj",
            "input_scene_path": "/v/p/scene.txt",
            "frames": "1",
            "webhook": "ftp://example.com/x",
        },
    )
    assert refused.status_code == 400 and "http(s)" in refused.json()["error"]["message"]
    assert user.get("/api/tasks").json()["total"] == 0  # no task was made
    other = submit(user, project_name="proj", input_scene_path="/v/p/scene.txt", frames="1")
    assert "webhook_secret" not in other
    task_id = _run_task(live, user, "1", fail=set(), webhook=receiver.url)
    with live.farm.db.read() as conn:
        assert conn.execute(select(webhook_deliveries.c.id)).all()  # queued for the task only
    hooks = user.get("/api/webhooks").json()
    assert [h["task_id"] for h in hooks] == [task_id]
    _dispatcher(live).step()
    assert [(e["event"], e["task_id"]) for e in receiver.events()] == [("task_done", task_id)]


def test_another_account_never_sees_your_hooks_or_deliveries(
    live: LiveServer, receiver: Receiver
) -> None:
    user = live.client(live.user_key)
    hook = user.post("/api/webhooks", json={"url": receiver.url}).json()["webhook"]
    alice_task = _run_task(live, user, "1", fail=set())
    bob = live.client(live.new_account("bob", trusted=True))
    assert bob.get("/api/webhooks").json() == []
    assert bob.get("/api/webhooks/deliveries").json() == []
    assert bob.delete(f"/api/webhooks/{hook['id']}").status_code == 404
    assert len(user.get("/api/webhooks/deliveries").json()) == 1
    bob.post("/api/webhooks", json={"url": receiver.url + "/bob"}).raise_for_status()
    bob_task = _run_task(live, bob, "1", fail=set())
    _dispatcher(live).step()
    sent = sorted((h["path"], json.loads(body)["task_id"]) for h, body in receiver.got)
    assert sent == [("/hook", alice_task), ("/hook/bob", bob_task)]  # each hears its own
    assert [d["task_id"] for d in bob.get("/api/webhooks/deliveries").json()] == [bob_task]
    assert user.delete(f"/api/webhooks/{hook['id']}").json() == {"id": hook["id"], "removed": True}
    assert user.get("/api/webhooks/deliveries").json() == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"url": "file:///etc/passwd"}, "http(s)"),
        ({"url": "https://"}, "http(s)"),
        ({"url": "https://u:p@example.com/"}, "password"),
        ({"url": "https://example.com/", "events": ["task_started"]}, "unknown event"),
        ({"url": "https://example.com/", "task_id": 999999}, "no task"),
    ],
)
def test_bad_webhooks_are_refused_clearly(
    live: LiveServer, body: dict[str, Any], says: str
) -> None:
    user = live.client(live.user_key)
    reply = user.post("/api/webhooks", json=body)
    assert reply.status_code in (400, 404), reply.text
    assert says in reply.json()["error"]["message"]


def test_the_servers_own_thread_delivers(live_thread: LiveServer, receiver: Receiver) -> None:
    from tests.waiting import wait_until

    user = live_thread.client(live_thread.user_key)
    user.post("/api/webhooks", json={"url": receiver.url}).raise_for_status()
    task_id = _run_task(live_thread, user, "1", fail=set())
    wait_until("the delivery thread to send task_done", lambda: receiver.got, timeout=20)
    assert [(e["event"], e["task_id"]) for e in receiver.events()] == [("task_done", task_id)]


def test_a_hanging_receiver_never_slows_rendering(live_thread: LiveServer) -> None:
    import time

    from tests.waiting import wait_until

    reached = threading.Event()

    class Hang(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            reached.set()
            time.sleep(webhooks.SEND_TIMEOUT + 2)  # answers after the sender gave up

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hang)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        user = live_thread.client(live_thread.user_key)
        url = f"http://127.0.0.1:{server.server_address[1]}/slow"
        user.post("/api/webhooks", json={"url": url}).raise_for_status()
        _run_task(live_thread, user, "1", fail=set())
        wait_until("the delivery thread to reach the receiver", reached.is_set, timeout=20)
        started = time.monotonic()  # the delivery thread now waits on the receiver
        _run_task(live_thread, user, "1-5", fail={3})
        assert time.monotonic() - started < webhooks.SEND_TIMEOUT  # rendering went on
        wait_until(
            "the hung attempt to be logged",
            lambda: any(d["attempts"] for d in user.get("/api/webhooks/deliveries").json()),
            timeout=20,
        )
        log = user.get("/api/webhooks/deliveries").json()
        tried = [d for d in log if d["attempts"]]
        assert tried[-1]["state"] == "pending" and "Timeout" in tried[-1]["last_error"]
    finally:
        server.shutdown()
        server.server_close()


def test_a_farm_sends_to_public_addresses_only_unless_told(
    live_server: LiveServer, receiver: Receiver
) -> None:
    import time

    user = live_server.client(live_server.user_key)
    for url in ("http://127.0.0.1:8642/api", "http://10.1.2.3/x", "http://[::1]/x"):
        refused = user.post("/api/webhooks", json={"url": url})
        assert refused.status_code == 400, url
        assert "webhook_private_addresses" in refused.json()["error"]["message"]
    # a name is checked when it is resolved: localhost is loopback
    port = receiver.url.rsplit(":", 1)[1]
    user.post("/api/webhooks", json={"url": f"http://localhost:{port}"}).raise_for_status()
    _run_task(live_server, user, "1", fail=set())
    clock = Clock(time.time() + 1)
    guarded = Dispatcher(live_server.farm.db, live_server.farm.sdk_box, clock=clock)
    assert guarded.step() == 1
    assert receiver.got == []  # nothing reached the receiver
    (entry,) = user.get("/api/webhooks/deliveries").json()
    assert entry["state"] == "pending" and "refused: localhost is" in entry["last_error"]
    assert webhooks.private_address("169.254.169.254") and not webhooks.private_address("8.8.8.8")
