"""Unit tests of how `Client.iter_task_json` reads a farm's streamed list, with a stand-in
transport (httpx.MockTransport) playing the farm: a reply cut short or miscounted raises
`ServerUnavailable` after giving what came; a farm older than `GET /api/tasks/all` (its
`/api/tasks/{task_id}` refuses "all" with 422) is read a page at a time. The real farm's side is
tests/server/api/test_task_stream.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from foxden.client.api import Client
from foxden.errors import ServerUnavailable


def record(task_id: int) -> dict[str, object]:
    return {"id": task_id, "status": "done"}


def line(value: object) -> bytes:
    return json.dumps(value).encode() + b"\n"


def farm(handler: Callable[[httpx.Request], httpx.Response]) -> Client:
    client = Client("http://farm.test:8642", "key")
    client.http = httpx.Client(
        base_url="http://farm.test:8642", transport=httpx.MockTransport(handler)
    )
    return client


def streamed(*parts: bytes) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/tasks/all"
        return httpx.Response(200, stream=httpx.ByteStream(b"".join(parts)))

    return handler


def test_lines_split_anywhere_are_read_whole() -> None:
    body = line({"tasks": [record(3), record(2)]}) + line({"tasks": [record(1)]}) + line({"end": 3})

    class Pieces(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            for i in range(0, len(body), 5):  # every line arrives in pieces of 5 bytes
                yield body[i : i + 5]

    with farm(lambda _: httpx.Response(200, stream=Pieces())) as client:
        assert [t["id"] for t in client.iter_task_json()] == [3, 2, 1]


def test_a_reply_without_its_end_mark_raises_after_what_came() -> None:
    got: list[object] = []
    with (
        farm(streamed(line({"tasks": [record(2), record(1)]}))) as client,
        pytest.raises(ServerUnavailable, match="ended after 2 tasks, before its end mark"),
    ):
        got.extend(t["id"] for t in client.iter_task_json())
    assert got == [2, 1]


def test_a_miscounted_end_mark_raises() -> None:
    with (
        farm(streamed(line({"tasks": [record(1)]}), line({"end": 2}))) as client,
        pytest.raises(ServerUnavailable, match="says it sent 2 tasks, 1 came"),
    ):
        list(client.iter_task_json())


def test_a_connection_broken_mid_list_raises() -> None:
    class Broken(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield line({"tasks": [record(1)]})
            raise httpx.ReadError("connection reset")

    with (
        farm(lambda _: httpx.Response(200, stream=Broken())) as client,
        pytest.raises(ServerUnavailable, match="broke off after 1 tasks"),
    ):
        list(client.iter_task_json())


def test_an_older_farm_is_read_a_page_at_a_time() -> None:
    asked: list[str] = []

    def older(request: httpx.Request) -> httpx.Response:
        asked.append(f"{request.url.path}?{request.url.query.decode()}")
        if request.url.path == "/api/tasks/all":  # /api/tasks/{task_id}: not a whole number
            return httpx.Response(422, json={"error": {"code": 422, "message": "task_id"}})
        page = int(request.url.params["page_no"])
        items = [record(5), record(4)] if page == 1 else [record(3)]
        return httpx.Response(
            200, json={"total": 3, "page_no": page, "page_size": 2, "items": items}
        )

    with farm(older) as client:
        assert [t["id"] for t in client.iter_task_json(project_name="p")] == [5, 4, 3]
    assert asked[0].startswith("/api/tasks/all?project_name=p")
    assert [a.split("?")[0] for a in asked[1:]] == ["/api/tasks", "/api/tasks"]
    assert all("project_name=p" in a for a in asked)
