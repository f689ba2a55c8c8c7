"""Draft tasks (the SDK's createTask), their config files, and their submission, on the farm's
services with a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from sqlalchemy import select, update

from foxden.db.schema import accounts, frames, task_configs, tasks
from foxden.errors import BadRequest, Conflict, FoxdenError, NotFound
from foxden.farm import drafts
from tests.conftest import LiveServer
from tests.farmkit import UNREADABLE_BLEND, make_project, register_worker, upload

TASK_JSON: dict[str, Any] = {
    "software_config": {"cg_name": "Blender", "cg_version": "3.4", "plugins": {}},
    "scene_info_render": {"common": {"frames": "1-3[1]", "camera_name": "Cam"}},
    "task_info": {"input_cg_file": "D:/p/shot.blend", "project_name": "p1"},
}


def _alice(live: LiveServer) -> int:
    with live.farm.db.read() as conn:
        account_id: int = conn.execute(
            select(accounts.c.id).where(accounts.c.name == "alice")
        ).scalar_one()
    return account_id


def _submit(live: LiveServer, account_id: int, task_id: int) -> Any:
    return drafts.submit_draft(
        live.farm.db, live.farm.store, account_id, task_id, default_chunk=1, default_attempts=3
    )


def test_a_draft_is_a_task_row_without_frames(live_server: LiveServer) -> None:
    alice = _alice(live_server)
    db = live_server.farm.db
    ids = drafts.create_drafts(db, alice, 2, artist="ann", labels=["a", "b"], user_level=60)
    assert ids == sorted(ids) and len(ids) == 2
    with db.read() as conn:
        rows = conn.execute(select(tasks).where(tasks.c.id.in_(ids))).all()
        n_frames = conn.execute(select(frames.c.id).where(frames.c.task_id.in_(ids))).all()
    assert {r.status for r in rows} == {"draft"} and n_frames == []
    assert all(r.frame_count == 0 and r.artist == "ann" and r.project_id is None for r in rows)
    assert rows[0].options == {"labels": ["a", "b"], "task_user_level": 60}
    with pytest.raises(BadRequest):
        drafts.create_drafts(db, alice, 0)
    # a draft can be deleted like any task that is not running
    user = live_server.client(live_server.user_key)
    assert user.delete(f"/api/tasks/{ids[0]}").status_code == 200


def test_old_drafts_go_and_the_account_holds_a_bounded_number(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = _alice(live_server)
    db = live_server.farm.db
    monkeypatch.setattr(drafts, "MAX_OPEN_DRAFTS", 3)
    old = drafts.create_drafts(db, alice, 3)
    with pytest.raises(Conflict, match="never submitted"):
        drafts.create_drafts(db, alice, 1)
    with db.write() as conn:  # a week passes
        conn.execute(
            update(tasks)
            .where(tasks.c.id.in_(old[:2]))
            .values(submit_time=time.time() - drafts.DRAFT_LIFETIME_S - 1)
        )
    new = drafts.create_drafts(db, alice, 2)
    with db.read() as conn:
        left = set(conn.execute(select(tasks.c.id).where(tasks.c.account_id == alice)).scalars())
    assert left == {old[2], *new}


def test_configs_are_replaced_and_checked(live_server: LiveServer) -> None:
    alice = _alice(live_server)
    db = live_server.farm.db
    [task_id] = drafts.create_drafts(db, alice, 1)
    first = drafts.store_config(db, alice, task_id, "task.json", '{"a": 1}', limit=100)
    assert first.size == 8
    drafts.store_config(db, alice, task_id, "task.json", '{"a": 2}', limit=100)
    assert drafts.read_config(db, alice, task_id, "task.json") == '{"a": 2}'
    with db.read() as conn:
        assert len(conn.execute(select(task_configs)).all()) == 1
    with pytest.raises(BadRequest, match="more than the 10"):
        drafts.store_config(db, alice, task_id, "tips.json", "x" * 11, limit=10)
    with pytest.raises(BadRequest, match="NUL"):
        drafts.store_config(db, alice, task_id, "tips.json", "a\x00b", limit=10)
    with pytest.raises(NotFound, match=r"no asset\.json"):
        drafts.read_config(db, alice, task_id, "asset.json")


def test_the_task_software_gets_a_config_in_an_existing_project(
    live_server: LiveServer,
) -> None:
    both = [{"name": "blender", "version": "3.3.1"}, {"name": "blender", "version": "3.4.1"}]
    register_worker(live_server.url, live_server.farm.join_key, software=both)
    alice = _alice(live_server)
    user = live_server.client(live_server.user_key)
    make_project(user, "p1", "blender 3.3")
    upload(user, "D:/p/shot.blend", UNREADABLE_BLEND)
    db = live_server.farm.db
    for _ in range(2):
        [task_id] = drafts.create_drafts(db, alice, 1)
        drafts.store_config(db, alice, task_id, "task.json", json.dumps(TASK_JSON), limit=10_000)
        task = _submit(live_server, alice, task_id)
        assert task.id == task_id and task.cg_soft_name == "blender 3.4"
    project = user.get("/api/projects/p1").json()
    # the 3.4 config was added once, and the project's default stays its own
    assert [(c["cg_soft_name"], c["is_default"]) for c in project["plugins"]] == [
        ("blender 3.3", True),
        ("blender 3.4", False),
    ]


def test_a_draft_submits_once_when_two_submit_it_at_once(live_server: LiveServer) -> None:
    register_worker(live_server.url, live_server.farm.join_key)
    alice = _alice(live_server)
    user = live_server.client(live_server.user_key)
    upload(user, "D:/p/shot.blend", UNREADABLE_BLEND)
    db = live_server.farm.db
    [task_id] = drafts.create_drafts(db, alice, 1)
    drafts.store_config(db, alice, task_id, "task.json", json.dumps(TASK_JSON), limit=10_000)
    _submit(live_server, alice, task_id)  # creates the project first: the race is the draft's
    [task_id] = drafts.create_drafts(db, alice, 1)
    drafts.store_config(db, alice, task_id, "task.json", json.dumps(TASK_JSON), limit=10_000)
    results: list[Any] = []
    start = threading.Barrier(2)

    def go() -> None:
        start.wait()
        try:
            results.append(_submit(live_server, alice, task_id))
        except FoxdenError as exc:
            results.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "TaskOut"]
    with db.read() as conn:
        count = len(conn.execute(select(frames.c.id).where(frames.c.task_id == task_id)).all())
    assert count == 3  # one set of frames
