"""What happened to a task, for the account's webhooks: task done, task failed, frame failed.

`lifecycle` calls these inside the transaction that makes the change, so an event is queued
(one `webhook_deliveries` row per webhook that wants it) exactly when the change commits, and
never when it rolls back. Nothing here sends anything: `webhooks.Dispatcher` delivers the rows
later, off the request path, so a slow or failing receiver never holds up rendering.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, insert, or_, select

from foxden.core.states import FrameStatus, TaskStatus
from foxden.db.schema import tasks, webhook_deliveries, webhooks
from foxden.farm import logs

#: the longest error a frame_failed event carries (UTF-8 bytes; head and tail kept)
ERROR_BYTES = 2000
#: the most frames one frame_failed batch names one by one (a larger batch says how many more)
FRAMES_PER_EVENT = 100


class EventName(StrEnum):
    """The events a webhook may ask for."""

    TASK_DONE = "task_done"
    TASK_FAILED = "task_failed"
    FRAME_FAILED = "frame_failed"


class DeliveryState(StrEnum):
    """Where a delivery stands: waiting for its (next) attempt, delivered, or given up."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


#: the task statuses that make an event when a task reaches them
_TASK_EVENTS = {
    TaskStatus.DONE.value: EventName.TASK_DONE,
    TaskStatus.FAILED.value: EventName.TASK_FAILED,
}

_TASK_FIELDS = (
    tasks.c.account_id,
    tasks.c.project_name,
    tasks.c.status,
    tasks.c.frame_count,
    tasks.c.n_done,
    tasks.c.n_failed,
    tasks.c.failure_summary,
)


def task_status(conn: Connection, task_id: int, status: str) -> None:
    """A task's derived status changed to `status`: queue task_done / task_failed."""
    event = _TASK_EVENTS.get(status)
    if event is None:
        return
    hooks = _hooks_for(conn, task_id, event)
    if not hooks:
        return
    task = conn.execute(select(*_TASK_FIELDS).where(tasks.c.id == task_id)).one()
    body = {
        "event": event.value,
        "task_id": task_id,
        "project_name": task.project_name,
        "status": status,
        "frame_count": task.frame_count,
        "frames_done": task.n_done,
        "frames_failed": task.n_failed,
        "failure_summary": logs.bound(task.failure_summary or "", ERROR_BYTES),
    }
    _queue(conn, hooks, event, body)


def frames_failed(
    conn: Connection,
    task_id: int,
    failed: Sequence[Any],
    values: Mapping[int, Mapping[str, Any]] | None,
    common: Mapping[str, Any] | None,
) -> None:
    """Frames of a task failed for good (rows with `id` and `number`): queue frame_failed, one
    event per frame (at most FRAMES_PER_EVENT of them; the last says how many more failed)."""
    if not failed:
        return
    hooks = _hooks_for(conn, task_id, EventName.FRAME_FAILED)
    if not hooks:
        return
    for index, row in enumerate(failed[:FRAMES_PER_EVENT]):
        given = {**(common or {}), **((values or {}).get(row.id, {}))}
        body: dict[str, Any] = {
            "event": EventName.FRAME_FAILED.value,
            "task_id": task_id,
            "frame": row.number,
            "status": FrameStatus.FAILED.value,
            "attempts": row.attempts,
            "failure_category": given.get("failure_category"),
            "error": logs.bound(str(given.get("error") or ""), ERROR_BYTES),
        }
        if index == FRAMES_PER_EVENT - 1 and len(failed) > FRAMES_PER_EVENT:
            body["more_frames_failed"] = len(failed) - FRAMES_PER_EVENT
        _queue(conn, hooks, EventName.FRAME_FAILED, body)


def _hooks_for(conn: Connection, task_id: int, event: EventName) -> list[int]:
    """The webhooks of the task's account (all its tasks, or this one) that want `event`."""
    rows = conn.execute(
        select(webhooks.c.id, webhooks.c.events)
        .join(tasks, tasks.c.account_id == webhooks.c.account_id)
        .where(
            (tasks.c.id == task_id)
            & or_(webhooks.c.task_id.is_(None), webhooks.c.task_id == task_id)
        )
        .order_by(webhooks.c.id)
    ).all()
    return [r.id for r in rows if not r.events or event.value in r.events]


def _queue(conn: Connection, hooks: list[int], event: EventName, body: dict[str, Any]) -> None:
    now = time.time()
    body["at"] = now
    payload = json.dumps(body, separators=(",", ":"), sort_keys=True)
    conn.execute(
        insert(webhook_deliveries),
        [
            {
                "webhook_id": hook,
                "event": event.value,
                "payload": payload,
                "state": DeliveryState.PENDING.value,
                "attempts": 0,
                "next_at": now,
                "last_error": "",
                "created_at": now,
            }
            for hook in hooks
        ],
    )
