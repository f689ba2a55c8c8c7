"""`GET /api/tasks/all`: every task a filter matches in one streamed reply, against a live
server: lines of records (`{"tasks": [...]}`) in the listing's order, `{"end": n}` last, the
count in `X-Total-Count`; only the caller's tasks; bad filters refused before anything is sent;
a task deleted while the list is sent is left out and the list still ends whole."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from foxden.client.api import Client
from foxden.farm import tasks as farm_tasks
from tests.conftest import LiveServer
from tests.listkit import STATUSES, account_id, fill


def lines(reply: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in reply.text.splitlines()]


def test_lines_of_records_then_the_end_mark(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(farm_tasks, "STREAM_BATCH", 7)
    db = live_server.farm.db
    ids = fill(db, account_id(db, "alice"), 30)
    live_server.new_account("bob")
    fill(db, account_id(db, "bob"), 5)
    with live_server.client(live_server.user_key) as user:
        reply = user.get("/api/tasks/all")
        assert reply.status_code == 200
        assert reply.headers["content-type"] == "application/x-ndjson"
        assert reply.headers["x-total-count"] == "30"
        got = lines(reply)
        assert [len(line["tasks"]) for line in got[:-1]] == [7, 7, 7, 7, 2]
        assert got[-1] == {"end": 30}
        records = [t for line in got[:-1] for t in line["tasks"]]
        assert [t["id"] for t in records] == sorted(ids, reverse=True)  # alice's only
        paged = user.get("/api/tasks", params={"page_size": 30}).json()["items"]
        assert records == paged  # the same records a page gives

        done = user.get("/api/tasks/all", params={"task_status": "done", "sort": "id"})
        wanted = [i for n, i in enumerate(ids) if STATUSES[n % len(STATUSES)] == "done"]
        assert [t["id"] for line in lines(done)[:-1] for t in line["tasks"]] == wanted
        assert done.headers["x-total-count"] == str(len(wanted))


def test_frames_come_in_smaller_lines(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(farm_tasks, "STREAM_BATCH_WITH_FRAMES", 4)
    db = live_server.farm.db
    fill(db, account_id(db, "alice"), 9, frames_each=3)
    with live_server.client(live_server.user_key) as user:
        got = lines(user.get("/api/tasks/all", params={"with_frames": "true"}))
    assert [len(line["tasks"]) for line in got[:-1]] == [4, 4, 1]
    assert all(len(t["frames_detail"]) == 3 for line in got[:-1] for t in line["tasks"])


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"task_status": "sleeping"}, "sleeping"),
        ({"sort": "colour"}, "cannot sort by 'colour'"),
        ({"submit_time_from": "yesterday"}, "submit_time_from"),
    ],
)
def test_a_bad_filter_is_refused_before_anything_is_sent(
    live_server: LiveServer, params: dict[str, str], words: str
) -> None:
    with live_server.client(live_server.user_key) as user:
        reply = user.get("/api/tasks/all", params=params)
    assert reply.status_code == 400
    assert words in reply.json()["error"]["message"]


@pytest.mark.parametrize(
    "params",
    [{"task_id": "abc"}, {"task_id": "NaN"}, {"task_id": str(10**30)}, {"with_frames": "maybe"}],
)
def test_a_filter_of_the_wrong_type_or_size_is_a_4xx(
    live_server: LiveServer, params: dict[str, str]
) -> None:
    with live_server.client(live_server.user_key) as user:
        reply = user.get("/api/tasks/all", params=params)
    assert 400 <= reply.status_code < 500, reply.text
    assert "error" in reply.json()


def test_another_accounts_task_id_lists_nothing(live_server: LiveServer) -> None:
    db = live_server.farm.db
    [theirs] = fill(db, account_id(db, "alice"), 1)
    bob = live_server.new_account("bob")
    with live_server.client(bob) as user:
        reply = user.get("/api/tasks/all", params={"task_id": theirs})
    assert reply.status_code == 200
    assert lines(reply) == [{"end": 0}]


def test_no_list_without_a_key(live_server: LiveServer) -> None:
    with live_server.client() as anonymous:
        assert anonymous.get("/api/tasks/all").status_code == 401


def test_a_task_deleted_while_the_list_is_sent_is_left_out(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The task is deleted by the server itself right after it built the first line (the
    records of a line are read when it is sent, not at the start)."""
    monkeypatch.setattr(farm_tasks, "STREAM_BATCH", 5)
    db = live_server.farm.db
    alice = account_id(db, "alice")
    ids = fill(db, alice, 20)
    newest_first = sorted(ids, reverse=True)
    gone = next(
        i for n, i in enumerate(ids) if STATUSES[n % len(STATUSES)] == "done" and i < ids[10]
    )  # in a later line than the first
    built = farm_tasks.task_dicts
    calls: list[int] = []

    def then_delete(*args: Any, **kw: Any) -> farm_tasks.TaskDicts:
        found = built(*args, **kw)
        calls.append(len(found.items))
        if len(calls) == 1:
            farm_tasks.delete_task(db, alice, gone)
        return found

    monkeypatch.setattr(farm_tasks, "task_dicts", then_delete)
    with Client(live_server.url, live_server.user_key) as client:
        listed = [t["id"] for t in client.iter_task_json()]  # ends whole: no ServerUnavailable
    assert listed == [i for i in newest_first if i != gone]
    assert calls == [5, 5, 5, 4]
