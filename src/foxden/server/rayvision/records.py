"""The SDK's task and frame records, built from foxden's (`TaskOut`, `FrameOut`).

What the SDK and rayvision_sync read (see the reference on the vendor's API): a task's `id`,
`taskStatus`, `statusText`, `isOpen` (0: do not look into `respRenderingTaskList`),
`outputFileName` (the download folder), `userId` and `bid` (the output storage id); a frame's
`id` and `frameIndex`. The rest follows the vendor's field names so scripts that print them work.
Times are milliseconds since 1970, as the vendor sends them.
"""

from __future__ import annotations

import math
from pathlib import PurePosixPath
from typing import Any

from foxden.core.software import cg_id_of
from foxden.core.states import SDK_FRAME_STATUS, FrameStatus, sdk_task_status
from foxden.farm.tasks import TaskExtras
from foxden.server.rayvision.account import storage_ids
from foxden.wire.api import FrameOut, TaskOut

#: The SDK's `taskUserLevel` is foxden's priority plus this: createTask's default level 50 is
#: foxden's default priority 0, level 60 is priority 10 (a higher level is claimed first).
LEVEL_OFFSET = 50
#: The levels the SDK may set (priority -50 to 50, inside foxden's -1000 to 1000).
LEVELS = (0, 100)


def priority_of_level(level: int) -> int:
    """foxden's priority for the SDK's `taskUserLevel`."""
    return level - LEVEL_OFFSET


def level_of_priority(priority: int) -> int:
    """The SDK's `taskUserLevel` for foxden's priority (outside 0-100 for a priority set
    through foxden's own API beyond the SDK's range)."""
    return priority + LEVEL_OFFSET


def ms(epoch: float | None) -> int | None:
    """Milliseconds since 1970, or None."""
    return None if epoch is None else round(epoch * 1000)


def page(items: list[Any], total: int, page_num: int, size: int) -> dict[str, Any]:
    """One page as the SDK's list calls return it."""
    return {
        "pageCount": math.ceil(total / size) if size else 0,
        "pageNum": page_num,
        "total": total,
        "size": size,
        "items": items,
    }


def thumbnail_path(task_id: int, number: int) -> str:
    """foxden's own route of a frame's thumbnail (it takes foxden's bearer key)."""
    return f"/api/tasks/{task_id}/frames/{number}/thumbnail"


def task(
    t: TaskOut, account_id: int, extras: TaskExtras | None = None, fee: float = 0.0
) -> dict[str, Any]:
    """A task as `queryTaskInfo/v2` and `getTaskList/v2` list it. `renderDuration` is the
    seconds its frames rendered; the vendor's fee fields (`renderConsume`, `userAccountConsume`)
    are `fee`: its core-hours so far x the farm's rate (`fee_per_core_hour`, 0 by default;
    `foxden.farm.usage`), with nothing paid by coupon.

    The vendor splits a job into render sub-tasks listed in `respRenderingTaskList`; a foxden
    task is its own single sub-task, so that list holds the task once more (with an empty list
    of its own). The SDK's `get_small_task_id` then gives the task's own id (with null there it
    fails), and `isOpen` 0 tells rayvision_sync not to look into the list."""
    record = _task_fields(t, account_id, extras, fee)
    record["respRenderingTaskList"] = [{**record, "respRenderingTaskList": []}]
    return record


def _task_fields(
    t: TaskOut, account_id: int, extras: TaskExtras | None, fee: float
) -> dict[str, Any]:
    counts = t.counts
    code = sdk_task_status(t.status, counts)
    seconds = extras.render_seconds if extras else 0.0
    timeout = extras.frame_timeout_s if extras else None
    return {
        "id": t.id,
        "taskAlias": str(t.id),
        "sceneName": PurePosixPath(t.scene_path).name if t.scene_path else "",
        "projectName": t.project_name,
        "taskStatus": code,
        "statusText": f"render_task_status_{code}",
        "preTaskStatus": None,
        "preStatusText": None,
        "isOpen": 0,
        "layerParentId": 0,
        "outputFileName": t.output_folder or None,
        "userId": account_id,
        "userName": t.submit_account,
        "bid": storage_ids(account_id)["output_bid"],
        "cgId": cg_id_of(t.job_type) if t.job_type else None,
        "softwareName": t.cg_soft_name,
        "taskUserLevel": level_of_priority(t.priority),
        "producer": t.artist or None,
        "renderCamera": t.camera,
        "layerName": t.render_layer,
        "framesRange": t.frames,
        "totalFrames": t.frame_count,
        "executingFramesTotal": counts.get(FrameStatus.RUNNING.value, 0),
        "doneFramesTotal": counts.get(FrameStatus.DONE.value, 0),
        "failedFramesTotal": counts.get(FrameStatus.FAILED.value, 0),
        "waitingFramesTotal": counts.get(FrameStatus.WAITING.value, 0),
        "stoppedFramesTotal": counts.get(FrameStatus.STOPPED.value, 0),
        "abortFramesTotal": counts.get(FrameStatus.ABORTED.value, 0),
        "executingFrames": counts.get(FrameStatus.RUNNING.value, 0),
        "doneFrames": counts.get(FrameStatus.DONE.value, 0),
        "failedFrames": counts.get(FrameStatus.FAILED.value, 0),
        "abortFrames": counts.get(FrameStatus.ABORTED.value, 0),
        "submitDate": ms(t.submit_time),
        "startTime": ms(t.start_time),
        "completedDate": ms(t.completed_time),
        "endTime": ms(t.completed_time),
        "renderDuration": round(seconds),
        "renderConsume": fee,
        "userAccountConsume": fee,
        "couponConsume": 0,
        "overTimeStop": timeout,
        "taskLimit": None,
        "isDelete": 1,
        "warnings": list(t.warnings),
        "failureSummary": t.failure_summary,  # foxden's: why frames failed, '' when none did
        "etaSeconds": t.eta_seconds,  # foxden's: seconds left (estimate), None when unknown
        "coreHours": t.core_hours,  # foxden's: core-hours of all its frames (estimate)
    }


def frame(f: FrameOut, task_id: int) -> dict[str, Any]:
    """A frame as `queryTaskFrames` lists it: `id` is the frame's row id (what the frame
    calls take), `frameIndex` its number as text; times 0 when it has none, as the vendor."""
    code = SDK_FRAME_STATUS[FrameStatus(f.status)]
    return {
        "id": f.id,
        "taskId": task_id,
        "frameIndex": str(f.number),
        "frameStatus": code,
        "frameStatusText": f"task_frame_status_{code}",
        "frameType": 5,
        "startTime": ms(f.start_time) or 0,
        "endTime": ms(f.end_time) or 0,
        "frameExecuteTime": round(f.render_time or 0),
        "renderTime": f.render_time,
        "progress": round(f.progress * 100, 1),
        "recommitFlag": 0,
        "attempts": f.attempts,
        "nodeId": "" if f.worker_id is None else str(f.worker_id),
        "errorMessage": f.error,
        "failureCategory": f.failure_category,  # foxden's (core/failures.py), '' if none
        "advice": f.advice,
        "outputs": [o.path for o in f.outputs],
        "thumbnail": (
            thumbnail_path(task_id, f.number) if any(o.thumb_hash for o in f.outputs) else None
        ),
    }
