"""Sessions end on the server, and guessing keys is rate-limited: the attacks over real HTTP."""

from __future__ import annotations

import httpx

from foxden.web.session import COOKIE
from tests.conftest import LiveServer
from tests.web.webkit import form_token, login

WRONG = "fdk_this-is-not-anyones-key"


def _from(address: str, url: str, **kw: object) -> httpx.Client:
    """A client whose connections come from `address` (another loopback address)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=url, transport=transport, timeout=30, **kw)  # type: ignore[arg-type]


def _form_login(client: httpx.Client, account: str, key: str) -> httpx.Response:
    page = client.get("/login")
    return client.post(
        "/login",
        data={"csrf_token": form_token(page.text), "account": account, "access_key": key},
    )


def _vendor(client: httpx.Client, account: str, key: str) -> httpx.Response:
    return client.post(
        "/api/v1/task",
        json={"head": {"account": account, "access_key": key, "action": "query_customer"}},
    )


def test_a_cookie_stops_working_at_logout(live_server: LiveServer) -> None:
    browser, csrf = login(live_server.url, "alice", live_server.user_key)
    stolen = browser.cookies[COOKIE]
    assert browser.get("/api/me").json()["name"] == "alice"

    reply = browser.post("/logout", data={"csrf_token": csrf})
    assert reply.status_code == 200 and "logged out" in reply.text

    # the thief replays the cookie taken before the logout: logged out, page and API alike
    thief = httpx.Client(base_url=live_server.url, timeout=30, cookies={COOKIE: stolen})
    page = thief.get("/tasks")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert thief.get("/api/me").status_code == 401
    assert thief.post("/api/projects", json={"project_name": "x"}).status_code in (401, 403)
    # a cookie for a session the server never opened (forged id) opens nothing either
    assert (
        httpx.get(f"{live_server.url}/tasks", cookies={COOKIE: stolen[:-3] + "abc"}).status_code
        == 303
    )

    # the legitimate path still works: a new login opens a new, working session
    again, _ = login(live_server.url, "alice", live_server.user_key)
    assert again.get("/api/me").json()["name"] == "alice"
    assert again.cookies[COOKIE] != stolen


def test_wrong_logins_on_the_form_are_limited_per_address(live_server: LiveServer) -> None:
    attacker = _from("127.0.0.2", live_server.url)
    statuses = [_form_login(attacker, "alice", f"{WRONG}{i}").status_code for i in range(50)]
    assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
    blocked = _form_login(attacker, "admin", live_server.admin_key)  # even a right key
    assert blocked.status_code == 429 and "Too many failed logins" in blocked.text
    assert 1 <= int(blocked.headers["Retry-After"]) <= 60

    # the legitimate path still works: the admin from another address, with the right key
    admin = _from("127.0.0.3", live_server.url, follow_redirects=True)
    assert "Logged in as" in _form_login(admin, "admin", live_server.admin_key).text


def test_wrong_logins_for_one_account_are_limited_across_addresses(
    live_server: LiveServer,
) -> None:
    # a spread-out guesser: 5 addresses, 3 tries each, all at alice
    for n in range(5):
        guesser = _from(f"127.0.1.{n + 1}", live_server.url)
        for i in range(3):
            assert _form_login(guesser, "alice", f"{WRONG}{n}-{i}").status_code in (401, 429)
    fresh = _from("127.0.2.1", live_server.url, follow_redirects=True)
    refused = _form_login(fresh, "alice", live_server.user_key)
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    vendor = _vendor(fresh, "alice", live_server.user_key)  # HTTP 200, the 429 in its head
    assert vendor.status_code == 200 and vendor.json()["head"]["error_code"] == "429"

    # the legitimate path still works: another account, from that same fresh address
    assert "Logged in as" in _form_login(fresh, "admin", live_server.admin_key).text


def test_wrong_keys_on_the_api_are_limited_per_address(live_server: LiveServer) -> None:
    attacker = _from("127.0.0.4", live_server.url)
    statuses = [
        attacker.get("/api/me", headers={"Authorization": f"Bearer {WRONG}{i}"}).status_code
        for i in range(50)
    ]
    assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
    last = attacker.get("/api/me", headers={"Authorization": f"Bearer {live_server.user_key}"})
    assert last.status_code == 429 and int(last.headers["Retry-After"]) >= 1
    assert "too many failed logins" in last.json()["error"]["message"]

    # the legitimate path still works, and many right calls are never counted
    other = _from("127.0.0.5", live_server.url)
    for _ in range(50):
        reply = other.get("/api/me", headers={"Authorization": f"Bearer {live_server.user_key}"})
        assert reply.status_code == 200


def test_wrong_keys_on_the_vendor_endpoint_are_limited(live_server: LiveServer) -> None:
    attacker = _from("127.0.0.6", live_server.url)
    # the vendor's clients read only HTTP 200 replies: the codes travel in the envelope's head
    replies = [_vendor(attacker, "nobody", f"{WRONG}{i}") for i in range(50)]
    assert {r.status_code for r in replies} == {200}
    codes = [r.json()["head"]["error_code"] for r in replies]
    assert codes[:10] == ["401"] * 10 and set(codes[10:]) == {"429"}
    last = _vendor(attacker, "alice", live_server.user_key)
    assert last.status_code == 200 and int(last.headers["Retry-After"]) >= 1
    assert last.json()["head"]["error_code"] == "429"
    assert "too many failed logins" in last.json()["head"]["error_message"].lower()

    # the legitimate path still works from another address
    reply = _vendor(_from("127.0.0.7", live_server.url), "alice", live_server.user_key)
    assert reply.status_code == 200 and reply.json()["head"]["result"] == "0"
