"""Task lists at scale over HTTP: at 2,500 tasks `GET /api/tasks` gives exactly the page asked
for and the right totals, every record as `GET /api/tasks/{id}` gives it, with the estimates
of its done frames; other accounts' tasks never show."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import update

from foxden.db.schema import frames, tasks
from tests.conftest import LiveServer
from tests.listkit import STATUSES, account_id, fill

COUNT = 2_500
FRAMES = 4


def _page(api: httpx.Client, **params: Any) -> dict[str, Any]:
    reply = api.get("/api/tasks", params=params)
    assert reply.status_code == 200, reply.text
    page: dict[str, Any] = reply.json()
    return page


def test_pages_and_totals_at_2500_tasks(live_server: LiveServer) -> None:
    db = live_server.farm.db
    ids = fill(db, account_id(db, "alice"), COUNT, FRAMES)
    live_server.new_account("bob")
    fill(db, account_id(db, "bob"), 30, FRAMES)  # never in alice's lists
    newest_first = sorted(ids, reverse=True)
    with live_server.client(live_server.user_key) as api:
        first = _page(api)
        assert first["total"] == COUNT and first["page_size"] == 100 and first["page_no"] == 1
        assert [t["id"] for t in first["items"]] == newest_first[:100]
        last = _page(api, page_size=1000, page_no=3)
        assert last["total"] == COUNT
        assert [t["id"] for t in last["items"]] == newest_first[2000:]
        assert _page(api, page_size=1000, page_no=4)["items"] == []

        failed = [i for n, i in enumerate(ids) if STATUSES[n % len(STATUSES)] == "failed"]
        page = _page(api, task_status="failed", page_size=50, page_no=2, sort="submit_time")
        assert page["total"] == len(failed)
        assert [t["id"] for t in page["items"]] == failed[50:100]
        assert {t["failure_summary"] for t in page["items"]} == {"2 of 4 frames failed: boom"}

        # a list's record is the task's own record, field for field
        for item in first["items"][:7] + last["items"][-7:]:
            assert item == api.get(f"/api/tasks/{item['id']}").json()


def test_list_records_carry_counts_progress_and_estimates(live_server: LiveServer) -> None:
    db = live_server.farm.db
    ids = fill(db, account_id(db, "alice"), 7, FRAMES)  # one of each of STATUSES
    with live_server.client(live_server.user_key) as api:
        items = {t["id"]: t for t in _page(api, page_size=10)["items"]}
        twice = {t["id"]: t for t in _page(api, page_size=10)["items"]}  # settled sums kept
    assert items == twice
    done, failed, rendering, queued = (items[ids[i]] for i in range(4))
    assert done["counts"] == {
        "waiting": 0,
        "running": 0,
        "done": 4,
        "failed": 0,
        "stopped": 0,
        "aborted": 0,
    }
    assert done["progress"] == 1.0 and failed["progress"] == 0.5
    # two frames done (one claim each, 9 s measured) on a worker of 8 cores and 2 slots:
    # 36 core-seconds a frame, extrapolated to 4 frames
    for task in (failed, rendering):
        assert task["core_hours"] == 4 * 36 / 3600
    assert done["core_hours"] == 4 * 36 / 3600  # its 4 done frames, the same way
    assert queued["core_hours"] is None and queued["eta_seconds"] is None
    assert rendering["eta_seconds"] is None  # nothing renders now


def test_a_settled_tasks_estimates_follow_a_change_of_its_row(live_server: LiveServer) -> None:
    db = live_server.farm.db
    [task_id] = fill(db, account_id(db, "alice"), 1, FRAMES)  # done
    with live_server.client(live_server.user_key) as api:
        before = api.get("/api/tasks").json()["items"][0]["core_hours"]
        with db.write() as conn:  # its frames rendered again, twice as long (a restart's end)
            conn.execute(update(frames).where(frames.c.task_id == task_id).values(render_time=18.0))
            conn.execute(update(tasks).where(tasks.c.id == task_id).values(completed_time=1.0))
        after = api.get("/api/tasks").json()["items"][0]["core_hours"]
    assert before == 4 * 36 / 3600 and after == 2 * before


def test_json_columns_listed_as_stored(live_server: LiveServer) -> None:
    """A list reads `options` and `warnings` as their stored text and decodes them itself: the
    same values as one task's record, nested, unicode and quotes included."""
    db = live_server.farm.db
    [task_id] = fill(db, account_id(db, "alice"), 1, FRAMES)
    options = {"nested": {"ünï": [1, 2.5, None, True]}, "say": 'a "quoted" \\ word'}
    warnings = ['frame 9 is outside "1-8"', "ß"]
    with db.write() as conn:
        conn.execute(
            update(tasks).where(tasks.c.id == task_id).values(options=options, warnings=warnings)
        )
    with live_server.client(live_server.user_key) as api:
        [listed] = _page(api)["items"]
        one = api.get(f"/api/tasks/{task_id}").json()
    assert listed["options"] == options and listed["warnings"] == warnings
    assert listed == one
