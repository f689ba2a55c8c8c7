"""`Fox.get_tasks()` at 2,500 tasks against a live server: without paging keys every task the
filter matches, once each, in the vendor's order (newest first), in one streamed reply (`GET
/api/tasks/all`, lines of 1,000); with paging keys exactly that page; a task submitted while the
list is read is not in it, and none is given twice."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from foxden import vendor_records
from foxden.client.api import LIST_PAGE_SIZE, Client
from foxden.client.fox import Fox
from tests.conftest import LiveServer
from tests.listkit import STATUSES, account_id, fill

COUNT = 2_500


def test_get_tasks_gives_every_task_once_in_the_vendors_order(live_server: LiveServer) -> None:
    db = live_server.farm.db
    ids = fill(db, account_id(db, "alice"), COUNT)
    live_server.new_account("bob")
    fill(db, account_id(db, "bob"), 20)
    newest_first = sorted(ids, reverse=True)
    with Fox(live_server.url, "alice", live_server.user_key, "en", progress=False) as fox:
        asked: list[str] = []
        fox.client.http.event_hooks["request"].append(lambda r: asked.append(r.url.path))
        everything = fox.get_tasks()
        assert [t["task_id"] for t in everything] == newest_first
        assert COUNT > 2 * LIST_PAGE_SIZE  # three lines of records came
        assert asked == ["/api/tasks/all"]  # in one request

        page = fox.get_tasks(task_filter={"page_size": 100, "page_no": 3})
        assert [t["task_id"] for t in page] == newest_first[200:300]
        assert fox.get_tasks(task_filter={"page_no": 2}) == everything[100:200]  # 100 a page

        stopped = [i for n, i in enumerate(ids) if STATUSES[n % len(STATUSES)] == "stopped"]
        found = fox.get_tasks(task_filter={"task_status": "stopped", "sort": "id"})
        assert [t["task_id"] for t in found] == stopped
        assert {t["task_status"] for t in found} == {"Stopped"}


def test_a_task_submitted_while_the_list_is_read_is_not_in_it(live_server: LiveServer) -> None:
    db = live_server.farm.db
    alice = account_id(db, "alice")
    ids = fill(db, alice, COUNT)
    with Client(live_server.url, live_server.user_key) as client:
        tasks = client.iter_tasks()
        got = [next(tasks).id for _ in range(10)]
        [newer] = fill(db, alice, 1)  # on top of page 1: every later page starts a task later
        got += [t.id for t in tasks]
    assert newer not in got  # the list's tasks were chosen before it came
    assert got == sorted(ids, reverse=True)


def test_records_read_from_json_are_the_records_read_from_models(live_server: LiveServer) -> None:
    """Fox reshapes the farm's JSON as it comes: the same vendor records, frames (`jobs`)
    included, as from the typed `Task` models; `iter_task_json` lists as `iter_tasks` does."""
    db = live_server.farm.db
    ids = fill(db, account_id(db, "alice"), LIST_PAGE_SIZE + 5)
    with Fox(live_server.url, "alice", live_server.user_key, "en", progress=False) as fox:
        client = fox.client
        typed = list(client.iter_tasks())
        raw = list(client.iter_task_json())
        assert [t["id"] for t in raw] == [t.id for t in typed] == sorted(ids, reverse=True)
        assert [vendor_records.task(t) for t in raw] == [vendor_records.task(t) for t in typed]
        assert all(vendor_records._task_fields(t) is t for t in raw)  # read as they came
        assert fox.get_tasks() == [vendor_records.task(t) for t in typed]

        with_frames = fox.get_tasks(task_filter={"page_size": 7}, has_frames=1)
        models = client.tasks(page_size=7, with_frames=True).items
        assert with_frames == [vendor_records.task(t) for t in models]
        assert all(len(t["jobs"]) == t["frame_count"] == 4 for t in with_frames)
        failed = next(t for t in with_frames if t["status"] == "failed")
        assert failed["task_status"] == "SubFailed" and failed["failed_count"] == 2


def test_a_partial_json_record_is_read_into_the_model_first() -> None:
    """A record missing some of `TaskOut`'s fields takes the model's defaults or its error."""
    with pytest.raises(ValidationError):
        vendor_records.task({"id": 1, "status": "done"})
