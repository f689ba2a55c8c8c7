"""Signed calls: what is refused, and the envelope on every reply."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.conftest import LiveServer
from tests.rayvision_kit import sdk_caller, signed_headers


def test_a_signed_call_answers_in_the_envelope(live_server: LiveServer) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    reply = caller.post("/api/render/setUp/queryUserProfile").json()
    assert reply["code"] == 200 and reply["result"] is True and reply["message"] == "success"
    assert reply["version"] and abs(reply["serverTime"] / 1000 - time.time()) < 60
    assert reply["data"]["userName"] == "alice" and isinstance(reply["data"]["userId"], int)


def test_a_wrong_secret_is_401_in_the_envelope(live_server: LiveServer) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    caller.secret = caller.secret[:-2] + "xx"
    code, message = caller.code("/api/render/setUp/queryUserProfile")
    assert code == 401 and "signature" in message


def test_a_replayed_request_is_refused(live_server: LiveServer) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    path = "/api/render/setUp/queryUserProfile"
    headers = signed_headers(caller.access_id, caller.secret, caller.domain, path, {})
    first = httpx.post(live_server.url + path, content="{}", headers=headers)
    again = httpx.post(live_server.url + path, content="{}", headers=headers)
    assert first.json()["code"] == 200
    assert again.json()["code"] == 401 and "replay" in again.json()["message"]


def test_a_stale_request_is_refused_even_when_signed(live_server: LiveServer) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    stale = str(int(time.time()) - 3600)
    reply = caller.post("/api/render/setUp/queryUserProfile", UTCTimestamp=stale).json()
    assert reply["code"] == 401 and "behind" in reply["message"]


def test_the_signature_covers_body_and_path(live_server: LiveServer) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    path = "/api/render/setUp/queryUserProfile"
    headers = signed_headers(caller.access_id, caller.secret, caller.domain, path, {"a": 1})
    tampered = httpx.post(live_server.url + path, content=json.dumps({"a": 2}), headers=headers)
    assert tampered.json()["code"] == 401
    other = "/api/render/transfer/getBid"
    moved = httpx.post(live_server.url + other, content=json.dumps({"a": 1}), headers=headers)
    assert moved.json()["code"] == 401


def test_unknown_paths_and_bad_bodies_get_the_envelope(live_server: LiveServer) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    unknown = caller.post("/api/render/no/such/call")
    assert unknown.status_code == 404 and unknown.json()["code"] == 404
    assert unknown.json()["result"] is False
    bare = httpx.post(live_server.url + "/api/rendering/task/x", content="[1]")
    assert bare.json()["code"] == 400 and "object" in bare.json()["message"]
    unsigned = httpx.post(live_server.url + "/api/render/setUp/queryUserProfile", content="{}")
    assert unsigned.json()["code"] == 401
    got = httpx.get(live_server.url + "/api/render/setUp/queryUserProfile")
    assert got.json()["code"] == 405


def test_a_new_sdk_key_replaces_the_old(live_server: LiveServer) -> None:
    old = sdk_caller(live_server.url, live_server.user_key)
    new = sdk_caller(live_server.url, live_server.user_key)
    assert new.call("/api/render/transfer/getBid")["input_bid"]
    assert old.code("/api/render/transfer/getBid")[0] == 401


def test_the_secret_is_not_in_the_database(live_server: LiveServer) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    from sqlalchemy import select

    from foxden.db.schema import sdk_keys

    with live_server.farm.db.read() as conn:
        stored = conn.execute(select(sdk_keys.c.secret_box)).scalars().all()
    assert stored and all(caller.secret not in s for s in stored)


def test_an_oversized_body_is_413_in_the_envelope(live_server: LiveServer) -> None:
    cap = live_server.farm.settings.max_json_bytes
    reply = httpx.post(
        live_server.url + "/api/render/submit/taskJsonFile",
        content=b"{" + b" " * (cap + 10) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 413
    assert reply.json()["code"] == 413 and reply.json()["result"] is False


def test_a_server_error_is_500_in_the_envelope_and_logged(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    from foxden.server.rayvision.calls import HANDLERS, Call

    def broken(call: Call) -> None:
        raise RuntimeError("a bug inside foxden")

    HANDLERS["/api/render/test/broken"] = broken
    try:
        caller = sdk_caller(live_server.url, live_server.user_key)
        reply = caller.post("/api/render/test/broken")
    finally:
        del HANDLERS["/api/render/test/broken"]
    assert reply.status_code == 500
    assert reply.json()["code"] == 500 and "log" in reply.json()["message"]
    assert "a bug inside foxden" not in reply.text  # the details stay in the server's log
    assert "a bug inside foxden" in caplog.text


@pytest.mark.parametrize(
    "value",
    [
        "NaN",
        "Infinity",
        "1e400",
        str(2**70),
        "-5",
        '"x"',
        "[[1]]",
        '{"a": {"b": 1}}',
        "true",
        "null",
    ],
)
def test_every_call_answers_hostile_values_with_a_4xx_never_a_500(
    live_server: LiveServer, value: str
) -> None:
    """Every registered SDK path, with each field the calls read set to NaN, infinities, huge
    numbers, negatives and wrong types: a refusal or an answer, never a server error."""
    from foxden.server.rayvision.calls import HANDLERS

    caller = sdk_caller(live_server.url, live_server.user_key)
    fields = [
        "taskId",
        "taskIds",
        "id",
        "ids",
        "count",
        "pageNum",
        "pageSize",
        "statusList",
        "status",
        "selectAll",
        "taskUserLevel",
        "overTime",
        "taskOverTimeSec",
        "cgId",
        "osName",
        "flag",
        "newName",
        "delName",
        "editName",
        "fileName",
        "content",
        "treePath",
        "renderingType",
        "frameStatus",
        "searchKeyword",
        "startTime",
        "endTime",
        "pluginIds",
    ]
    raw = "{" + ", ".join(f'"{f}": {value}' for f in fields) + "}"
    for path in sorted(HANDLERS):
        from tests.rayvision_kit import signed_headers

        body = json.loads(raw)  # Python reads NaN and Infinity as the server will
        headers = signed_headers(caller.access_id, caller.secret, caller.domain, path, body)
        reply = httpx.post(live_server.url + path, content=raw, headers=headers, timeout=30)
        # 501 is a deliberate refusal (a call foxden does not offer); 500 would be a bug
        assert reply.status_code != 500, (path, value, reply.text)
        assert reply.json()["code"] != 500, (path, value, reply.text)
