"""A list's estimates and the SDK's render time cost its page, not its tasks' frames: the
done-frame sums of a task (active ones included) are read once while its row is unchanged, and
read again as soon as a frame's report moves the row (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update

from foxden.db.schema import frames, tasks
from foxden.farm import tasks as farm_tasks
from foxden.farm.accounts import create_account
from foxden.server.context import Farm
from tests.conftest import farm_settings
from tests.listkit import fill

FRAMES_TABLE = re.compile(r"\bframes\b")
FRAMES = 4  # a filled started task has 2 of them done, 9 s each, on a worker of 8 cores / 2 slots


@dataclass
class Listed:
    farm: Farm
    account_id: int
    rendering: int
    statements: list[str]

    def frame_reads(self) -> int:
        """Statements since the last call that read the frames table."""
        reads = sum(bool(FRAMES_TABLE.search(s)) for s in self.statements)
        self.statements.clear()
        return reads

    def page(self) -> dict[int, dict[str, Any]]:
        page = farm_tasks.task_page(self.farm.db, self.account_id, {"page_size": 100})
        return {item["id"]: item for item in page.tasks.items}


@pytest.fixture
def listed(db_url: str, tmp_path: Path) -> Iterator[Listed]:
    farm = Farm.open(farm_settings(db_url, tmp_path))
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    event.listen(farm.db.engine, "before_cursor_execute", seen)
    try:
        account_id = create_account(farm.db, "alice")[0].id
        _done, _failed, rendering = fill(farm.db, account_id, 3, FRAMES)
        statements.clear()
        yield Listed(farm, account_id, rendering, statements)
    finally:
        event.remove(farm.db.engine, "before_cursor_execute", seen)
        farm.close()


def _frame_done(listed: Listed, number: int, render_time: float) -> None:
    """Frame `number` of the rendering task done as a report leaves it: the frame with its
    times, the task's counters moved (the row changes)."""
    now = time.time()
    with listed.farm.db.write() as conn:
        conn.execute(
            update(frames)
            .where((frames.c.task_id == listed.rendering) & (frames.c.number == number))
            .values(
                status="done",
                attempts=1,
                progress=1.0,
                start_time=now - render_time,
                end_time=now,
                render_time=render_time,
            )
        )
        conn.execute(
            update(tasks)
            .where(tasks.c.id == listed.rendering)
            .values(n_waiting=tasks.c.n_waiting - 1, n_done=tasks.c.n_done + 1)
        )


def test_an_active_tasks_sums_are_read_once_while_its_row_is_unchanged(listed: Listed) -> None:
    first = listed.page()
    assert listed.frame_reads() == 1  # one query sums the done frames of every task of the page
    # 2 frames of 9 s each on a slot of 4 cores: 36 core-s a frame, 4 frames
    assert first[listed.rendering]["core_hours"] == pytest.approx(4 * 36 / 3600)
    assert listed.page() == first
    assert listed.frame_reads() == 0  # nothing moved: the kept sums, no frame read

    _frame_done(listed, 3, 27.0)  # a frame of 27 s (no worker: counted as one core)
    listed.frame_reads()
    moved = listed.page()
    assert listed.frame_reads() == 1  # its row moved: read again
    assert moved[listed.rendering]["counts"]["done"] == 3
    assert moved[listed.rendering]["core_hours"] == pytest.approx((36 + 36 + 27) / 3 * 4 / 3600)
    assert {i: t for i, t in moved.items() if i != listed.rendering} == {
        i: t for i, t in first.items() if i != listed.rendering
    }


def test_one_tasks_record_reads_its_sums_afresh(listed: Listed) -> None:
    listed.page()
    with listed.farm.db.write() as conn:  # times changed behind the row's back
        conn.execute(
            update(frames).where(frames.c.task_id == listed.rendering).values(render_time=18.0)
        )
    record = farm_tasks.get_task(listed.farm.db, listed.account_id, listed.rendering)
    assert record.core_hours == pytest.approx(4 * 72 / 3600)
    assert listed.page()[listed.rendering]["core_hours"] == record.core_hours  # kept anew


def test_sdk_render_seconds_are_the_done_frames_and_follow_a_report(listed: Listed) -> None:
    ids = sorted(listed.page())
    listed.frame_reads()
    extras = farm_tasks.task_extras(listed.farm.db, listed.account_id, ids)
    assert listed.frame_reads() == 0  # the page's kept sums
    done_task = ids[0]
    assert extras[done_task].render_seconds == FRAMES * 9.0
    assert extras[listed.rendering].render_seconds == 2 * 9.0
    _frame_done(listed, 3, 27.0)
    moved = farm_tasks.task_extras(listed.farm.db, listed.account_id, ids)
    assert moved[listed.rendering].render_seconds == 2 * 9.0 + 27.0
    assert moved[done_task] == extras[done_task]
    # another account's task ids give nothing
    other = create_account(listed.farm.db, "bob")[0].id
    assert farm_tasks.task_extras(listed.farm.db, other, ids) == {}
