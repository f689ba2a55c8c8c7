"""Idle polls over HTTP: a claim that answers 204 opens no write transaction while the
worker's `last_seen` is fresh (`scheduler.SEEN_EVERY`), and work is still handed out at once."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from sqlalchemy import Connection, select

from foxden.db.schema import workers
from foxden.farm import scheduler
from tests.conftest import LiveServer
from tests.farmkit import register_worker


def test_idle_polls_answer_204_without_writing(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = live_server.farm.db
    worker = register_worker(live_server.url, live_server.farm.join_key, name="idle")
    assert worker.post("/api/worker/claim", json={}).status_code == 204  # noted idle
    with db.read() as conn:
        seen = conn.execute(select(workers.c.status, workers.c.last_seen)).one()
    opened: list[str] = []
    real: Callable[..., AbstractContextManager[Connection]] = db.write

    def counting(**kw: Any) -> AbstractContextManager[Connection]:
        caller = sys._getframe(1).f_code  # the server's background loops write too
        opened.append(f"{caller.co_filename}:{caller.co_name}")
        return real(**kw)

    monkeypatch.setattr(db, "write", counting)
    answers = [worker.post("/api/worker/claim", json={}).status_code for _ in range(10)]
    assert time.time() - seen.last_seen < scheduler.SEEN_EVERY, "too slow to prove anything"
    assert answers == [204] * 10
    claims = [
        where
        for where in opened
        if where.endswith(("scheduler.py:claim", "scheduler.py:claim_many"))
    ]
    assert claims == [], "an idle poll opened a write transaction"
    with db.read() as conn:
        assert conn.execute(select(workers.c.status, workers.c.last_seen)).one() == seen
    assert seen.status == "idle"
