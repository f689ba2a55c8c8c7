"""The web site over HTTP, without a browser: login, sessions, CSRF, isolation, downloads."""

from __future__ import annotations

import io
import re
import zipfile
from contextlib import closing

import httpx

from foxden import frames as frame_spec
from foxden.farm.accounts import set_disabled
from tests.conftest import LiveServer
from tests.farmkit import make_project, submit, upload
from tests.waiting import wait_until
from tests.web.webkit import SimWorker, form_token, login


def test_pages_need_a_login(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as anon:
        for path in ("/", "/tasks", "/projects", "/workers", "/tasks/1"):
            reply = anon.get(path)
            assert reply.status_code == 303 and reply.headers["location"].startswith("/login"), path
        assert anon.get("/tasks?text=x").headers["location"] == "/login?next=%2Ftasks%3Ftext%3Dx"
        assert anon.post("/projects", data={"project_name": "x"}).status_code in (303, 403)


def test_login_page_and_wrong_key(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as client:
        page = client.get("/login")
        assert page.status_code == 200
        assert "default-src 'self'" in page.headers["content-security-policy"]
        reply = client.post(
            "/login",
            data={
                "csrf_token": form_token(page.text),
                "account": "alice",
                "access_key": "fdk_wrong",
            },
        )
        assert reply.status_code == 401
        assert "Wrong account name or access key" in reply.text
        assert "foxden_session" not in reply.headers.get("set-cookie", "")
        other = client.post(
            "/login",
            data={
                "csrf_token": form_token(page.text),
                "account": "admin",
                "access_key": live_server.user_key,
            },
        )
        assert other.status_code == 401, "alice's key must not open the admin account"


def test_login_form_needs_its_csrf_token(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as client:
        client.get("/login")
        reply = client.post(
            "/login",
            data={"csrf_token": "forged", "account": "alice", "access_key": live_server.user_key},
        )
        assert reply.status_code == 403 and "foxden_session" not in reply.headers.get(
            "set-cookie", ""
        )
    with httpx.Client(base_url=live_server.url) as fresh:  # no login cookie at all
        reply = fresh.post("/login", data={"account": "alice", "access_key": live_server.user_key})
        assert reply.status_code == 403


def test_session_cookie_flags(live_server: LiveServer) -> None:
    for proto, secure in (("http", False), ("https", True)):
        with httpx.Client(base_url=live_server.url, headers={"X-Forwarded-Proto": proto}) as client:
            page = client.get("/login")
            login_cookie = next(
                c for c in page.headers.get_list("set-cookie") if c.startswith("foxden_login_csrf=")
            )
            assert ("Secure" in login_cookie) is secure and "SameSite=strict" in login_cookie
            token = form_token(page.text)
            client.cookies.clear()  # the client keeps Secure cookies off plain HTTP: send it by hand
            reply = client.post(
                "/login",
                follow_redirects=False,
                headers={"Cookie": f"foxden_login_csrf={token}"},
                data={"csrf_token": token, "account": "alice", "access_key": live_server.user_key},
            )
            assert reply.status_code == 303 and reply.headers["location"] == "/tasks"
            cookie = next(
                c for c in reply.headers.get_list("set-cookie") if c.startswith("foxden_session=")
            )
            assert "HttpOnly" in cookie and "SameSite=lax" in cookie
            assert ("Secure" in cookie) is secure


def test_login_goes_back_to_the_page_asked_for_but_never_off_site(live_server: LiveServer) -> None:
    for target, expected in (
        ("/projects", "/projects"),
        ("//evil.example/x", "/tasks"),
        ("https://evil.example/", "/tasks"),
        ("/\\evil.example", "/tasks"),
    ):
        with httpx.Client(base_url=live_server.url) as client:
            page = client.get("/login", params={"next": target})
            reply = client.post(
                "/login",
                follow_redirects=False,
                data={
                    "csrf_token": form_token(page.text),
                    "account": "alice",
                    "access_key": live_server.user_key,
                    "next": target,
                },
            )
            assert reply.headers["location"] == expected, target


def test_forms_refuse_posts_without_the_session_token(live_server: LiveServer) -> None:
    client, token = login(live_server.url, "alice", live_server.user_key)
    with closing(client):
        assert client.post("/projects", data={"project_name": "p"}).status_code == 403
        assert (
            client.post("/projects", data={"project_name": "p", "csrf_token": "x" * 43}).status_code
            == 403
        )
        other, other_token = login(live_server.url, "alice", live_server.user_key)
        with closing(other):  # another session's token is not this session's
            assert (
                client.post(
                    "/projects", data={"project_name": "p", "csrf_token": other_token}
                ).status_code
                == 403
            )
        assert client.get("/api/projects").json() == []
        made = client.post("/projects", data={"project_name": "p", "csrf_token": token})
        assert made.status_code == 200 and "Project p created." in made.text
        assert client.post("/logout").status_code == 403  # logging out needs the token too


def test_cookie_calls_to_the_api_need_the_csrf_header(live_server: LiveServer) -> None:
    client, token = login(live_server.url, "alice", live_server.user_key)
    with closing(client):
        assert client.get("/api/me").json()["name"] == "alice"
        refused = client.post("/api/projects", json={"project_name": "p"})
        assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["error"]["message"]
        assert client.delete("/api/files", params={"path": "/x"}).status_code == 403
        ok = client.post(
            "/api/projects", json={"project_name": "p"}, headers={"X-CSRF-Token": token}
        )
        assert ok.status_code == 201
        # a bearer key wins over the cookie and needs no CSRF header
        admin = client.post(
            "/api/projects",
            json={"project_name": "q"},
            headers={"Authorization": f"Bearer {live_server.admin_key}"},
        )
        assert admin.status_code == 201
        assert [p["project_name"] for p in client.get("/api/projects").json()] == ["p"]


def test_logout_and_disabled_accounts_end_the_session(live_server: LiveServer) -> None:
    client, token = login(live_server.url, "alice", live_server.user_key)
    with closing(client):
        reply = client.post("/logout", data={"csrf_token": token})
        assert reply.status_code == 200 and "You are logged out." in reply.text
        assert client.get("/tasks", follow_redirects=False).status_code == 303
    client, token = login(live_server.url, "alice", live_server.user_key)
    with closing(client):
        set_disabled(live_server.farm.db, "alice", True)
        assert client.get("/tasks", follow_redirects=False).status_code == 303
        assert client.get("/api/me").status_code == 401


def test_workers_page_is_for_admins(live_server: LiveServer) -> None:
    client, _ = login(live_server.url, "alice", live_server.user_key)
    with closing(client):
        page = client.get("/workers")
        assert page.status_code == 403 and "administrator" in page.text
        assert "/workers" not in client.get("/tasks").text
    admin, _ = login(live_server.url, "admin", live_server.admin_key)
    with closing(admin):
        assert admin.get("/workers").status_code == 200


def _rendered_task(live_server: LiveServer) -> tuple[int, SimWorker]:
    user = live_server.client(live_server.user_key)
    worker = SimWorker(live_server.url, live_server.farm.join_key, fail_once={2}, seconds=0.01)
    make_project(user, "shots")
    upload(user, "/v/shots/a.txt", b"scene")
    task = submit(
        user,
        project_name="shots",
        input_scene_path="/v/shots/a.txt",
        frames="1-3",
        chunk_size=1,
        max_attempts=1,
    )
    worker.start()

    def failed() -> bool:
        assert not worker.errors, worker.errors
        return bool(user.get(f"/api/tasks/{task['id']}").json()["status"] == "failed")

    wait_until("the task to fail", failed, timeout=30)
    return task["id"], worker


def test_task_pages_operations_and_downloads(live_server: LiveServer) -> None:
    task_id, worker = _rendered_task(live_server)
    client, token = login(live_server.url, "alice", live_server.user_key)
    try:
        page = client.get(f"/tasks/{task_id}")
        assert page.status_code == 200 and 'data-frame="2"' in page.text
        assert "frame_0001.png" in page.text
        log = client.get(f"/tasks/{task_id}/frames/2/log")
        assert "out of memory" in log.text and "the renderer crashed" in log.text
        # the page's live update: frame cards (worker, reason, time), outputs, summary, ETA
        live = client.get(f"/tasks/{task_id}/live")
        assert live.headers["cache-control"] == "no-store"
        cards = {card["number"]: card for card in live.json()["frames"]}
        assert cards[2]["status"] == "failed" and cards[2]["reason"] == "the renderer crashed"
        assert cards[3]["worker"] == "sim-1" and "(render 0.0 s)" in cards[3]["time"]
        assert live.json()["summary"] == "1 of 3 frames failed: the renderer crashed"
        assert [o["path"] for o in live.json()["outputs"]] == [
            f"{task_id}_a/frame_0001.png",
            f"{task_id}_a/frame_0003.png",
        ]
        listed = client.get("/tasks/live").json()["items"]
        assert [(t["id"], t["eta"]) for t in listed] == [(task_id, "—")]
        assert client.get("/favicon.ico", follow_redirects=False).headers["location"] == (
            "/static/favicon.svg"
        )
        archive = client.get(f"/tasks/{task_id}/outputs.zip")
        assert archive.headers["content-type"] == "application/zip"
        assert "attachment" in archive.headers["content-disposition"]
        names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
        assert names == [f"{task_id}_a/frame_0001.png", f"{task_id}_a/frame_0003.png"]
        one = client.get(f"/tasks/{task_id}/outputs/{task_id}_a/frame_0003.png")
        assert one.status_code == 200 and one.content.startswith(b"\x89PNG")
        assert client.get(f"/tasks/{task_id}/outputs/{task_id}_a/nope.png").status_code == 404
        restarted = client.post(
            f"/tasks/{task_id}/restart", data={"csrf_token": token, "restart": "chosen"}
        )
        assert "Tick the frames" in restarted.text
        restarted = client.post(
            f"/tasks/{task_id}/restart", data={"csrf_token": token, "frame": ["1"], "frames": "3"}
        )
        assert f"Restarted frame(s) {frame_spec.format([1, 3])}." in restarted.text
        bad = client.post(f"/tasks/{task_id}/resume", data={"csrf_token": token})
        assert "cannot resume" in bad.text
    finally:
        worker.stop()
        client.close()


def test_another_account_sees_none_of_it(live_server: LiveServer) -> None:
    task_id, worker = _rendered_task(live_server)
    worker.stop()
    bob_key = live_server.new_account("bob")
    bob, token = login(live_server.url, "bob", bob_key)
    with closing(bob):
        assert "No tasks" in bob.get("/tasks").text and "shots" not in bob.get("/projects").text
        assert bob.get("/tasks/live").json()["items"] == []
        for path in (
            f"/tasks/{task_id}",
            f"/tasks/{task_id}/live",
            f"/tasks/{task_id}/frames/1/log",
            f"/tasks/{task_id}/outputs.zip",
            f"/tasks/{task_id}/outputs/{task_id}_a/frame_0001.png",
            "/projects/shots",
            f"/api/tasks/{task_id}",
            f"/api/tasks/{task_id}/frames/1/thumbnail",
        ):
            assert bob.get(path).status_code == 404, path
        for path in (
            f"/tasks/{task_id}/stop",
            f"/tasks/{task_id}/delete",
            f"/tasks/{task_id}/restart",
            "/projects/shots/delete",
        ):
            assert bob.post(path, data={"csrf_token": token}).status_code == 404, path


def test_project_management(live_server: LiveServer) -> None:
    worker = SimWorker(live_server.url, live_server.farm.join_key, fail_once=set())
    client, token = login(live_server.url, "alice", live_server.user_key)
    try:
        page = client.get("/projects")
        assert (
            '<option value="blender 3.4">' in page.text
            and '<option value="command 1">' in page.text
        )
        bad = client.post(
            "/projects",
            data={
                "csrf_token": token,
                "project_name": "a",
                "cg_soft_name": "maya 2024",
                "remark": "kept",
            },
        )
        assert bad.status_code == 400 and "no worker of this farm offers" in bad.text
        assert 'value="kept"' in bad.text, "the form keeps what was typed"
        made = client.post(
            "/projects",
            data={
                "csrf_token": token,
                "project_name": "a",
                "cg_soft_name": "command 1",
                "render_os": "linux",
            },
        )
        assert made.url.path == "/projects/a"
        assert (
            client.post("/projects", data={"csrf_token": token, "project_name": "a"}).status_code
            == 409
        )
        client.post(
            "/projects/a/configs", data={"csrf_token": token, "cg_soft_name": "blender 3.4"}
        )
        configs = client.get("/api/projects/a").json()["plugins"]
        assert [(c["cg_soft_name"], c["is_default"]) for c in configs] == [
            ("command 1", True),
            ("blender 3.4", False),
        ]
        client.post(
            f"/projects/a/configs/{configs[1]['config_id']}/default", data={"csrf_token": token}
        )
        assert [c["is_default"] for c in client.get("/api/projects/a").json()["plugins"]] == [
            False,
            True,
        ]
        client.post(
            f"/projects/a/configs/{configs[1]['config_id']}/delete", data={"csrf_token": token}
        )
        assert [c["cg_soft_name"] for c in client.get("/api/projects/a").json()["plugins"]] == [
            "command 1"
        ]
        edited = client.post(
            "/projects/a",
            data={
                "csrf_token": token,
                "project_name": "b",
                "remark": "renamed",
                "render_os": "windows",
            },
        )
        assert edited.url.path == "/projects/b" and "Project saved." in edited.text
        record = client.get("/api/projects/b").json()
        assert (record["remark"], record["render_os"]) == ("renamed", "windows")
        gone = client.post("/projects/b/delete", data={"csrf_token": token})
        assert "Project b deleted." in gone.text and client.get("/api/projects").json() == []
        assert client.get("/projects/b").status_code == 404
    finally:
        worker.stop()
        client.close()


def test_task_list_filters_and_stop_resume(live_server: LiveServer) -> None:
    register = SimWorker(
        live_server.url, live_server.farm.join_key, fail_once=set()
    )  # offers software
    user = live_server.client(live_server.user_key)
    make_project(user, "one")
    make_project(user, "two")
    upload(user, "/v/one/forest.txt", b"1")
    upload(user, "/v/two/castle.txt", b"2")
    first = submit(user, project_name="one", input_scene_path="/v/one/forest.txt", frames="1-2")
    second = submit(user, project_name="two", input_scene_path="/v/two/castle.txt", frames="1")
    client, token = login(live_server.url, "alice", live_server.user_key)
    try:

        def shown(**query: str) -> list[int]:
            text = client.get("/tasks", params=query).text
            return [int(n) for n in re.findall(r'<tr data-task-id="(\d+)"', text)]

        assert shown() == [second["id"], first["id"]]
        assert shown(project_name="one") == [first["id"]]
        assert shown(text="castle") == [second["id"]]
        assert shown(task_status="queued") == [second["id"], first["id"]]
        assert shown(task_status="done") == []
        stopped = client.post(f"/tasks/{first['id']}/stop", data={"csrf_token": token})
        assert f"Task {first['id']} stopped." in stopped.text
        assert shown(task_status="stopped") == [first["id"]]
        resumed = client.post(f"/tasks/{first['id']}/resume", data={"csrf_token": token})
        assert f"Task {first['id']} resumed." in resumed.text
        refused = client.post(f"/tasks/{first['id']}/delete", data={"csrf_token": token})
        assert "stop it first" in refused.text
        client.post(f"/tasks/{first['id']}/abort", data={"csrf_token": token})
        deleted = client.post(f"/tasks/{first['id']}/delete", data={"csrf_token": token})
        assert f"Task {first['id']} deleted." in deleted.text and shown() == [second["id"]]
        assert "unknown task status" in client.get("/tasks", params={"task_status": "nope"}).text
    finally:
        register.stop()
        client.close()
