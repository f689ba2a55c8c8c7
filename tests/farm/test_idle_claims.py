"""An idle claim that finds nothing is a read-only query: `last_seen` is written at most every
`scheduler.SEEN_EVERY` seconds per worker, and a worker's standing is still checked."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from sqlalchemy import Connection, select

from foxden.db.schema import workers
from foxden.errors import Unauthorized
from foxden.farm import scheduler
from foxden.farm import workers as farm_workers
from tests.farm import test_scheduler
from tests.farm.test_scheduler import T0, Scene, claim

scene = test_scheduler.scene  # the fixture: a farm with one account, its project and scene


def _seen(scene: Scene, worker_id: int) -> tuple[str, float]:
    with scene.farm.db.read() as conn:
        row = conn.execute(
            select(workers.c.status, workers.c.last_seen).where(workers.c.id == worker_id)
        ).one()
    return row.status, row.last_seen


@pytest.fixture
def writes(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every write transaction the farm's database opens from now on (they still run)."""
    opened: list[str] = []
    real: Callable[..., AbstractContextManager[Connection]] = scene.farm.db.write

    def counting(**kw: Any) -> AbstractContextManager[Connection]:
        opened.append("write")
        return real(**kw)

    monkeypatch.setattr(scene.farm.db, "write", counting)
    yield opened


def test_idle_claims_take_no_write_and_last_seen_advances_after_the_window(
    scene: Scene, writes: list[str]
) -> None:
    worker = scene.worker()
    assert claim(scene, worker, now=T0) is None  # the clock jumped: written
    assert _seen(scene, worker.id) == ("idle", T0)
    writes.clear()
    for later in (1.0, 3.0, scheduler.SEEN_EVERY - 0.1):
        assert claim(scene, worker, now=T0 + later) is None
    assert writes == [], "an idle claim within the window opened a write transaction"
    assert _seen(scene, worker.id) == ("idle", T0)
    after = T0 + scheduler.SEEN_EVERY + 0.5
    assert claim(scene, worker, now=after) is None
    assert _seen(scene, worker.id) == ("idle", after) and len(writes) == 1


def test_work_is_still_claimed_at_once_and_a_busy_worker_is_noted_idle_again(
    scene: Scene, writes: list[str]
) -> None:
    worker = scene.worker()
    assert claim(scene, worker, now=T0) is None
    tid = scene.submit("1")
    lease = claim(scene, worker, now=T0 + 1)
    assert lease is not None and lease["task"]["id"] == tid
    assert _seen(scene, worker.id) == ("busy", T0 + 1)
    # within the window, but the worker was busy: the claim notes it idle
    assert claim(scene, worker, now=T0 + 2) is None
    assert _seen(scene, worker.id) == ("idle", T0 + 2)


def test_a_revoked_worker_is_refused_within_the_window(scene: Scene) -> None:
    worker = scene.worker()
    assert claim(scene, worker, now=T0) is None
    farm_workers.revoke(scene.farm.db, worker.id)
    with pytest.raises(Unauthorized):
        claim(scene, worker, now=T0 + 1)
