"""The SDK's query calls: task lists and details, a task's frames, frame totals, thumbnails
and frame logs. Only the caller's tasks are ever shown."""

from __future__ import annotations

from typing import Any

from foxden import frames as frame_spec
from foxden.core.states import SDK_FRAME_STATUS, FrameStatus
from foxden.errors import NotFound
from foxden.farm import tasks, usage
from foxden.server.rayvision import records
from foxden.server.rayvision.calls import Call, handles, ids, integer, numbers, text
from foxden.vendor_records import vendor_time

#: The most items one page holds.
PAGE_LIMIT = 1000
#: The most frames a frame search may name.
SEARCH_LIMIT = 10_000


def paging(body: dict[str, Any]) -> tuple[int, int]:
    """(pageNum, pageSize) of a list call: 1 and 100 when left out."""
    return (
        integer(body, "pageNum", 1, low=1, high=10**9),
        integer(body, "pageSize", 100, low=1, high=PAGE_LIMIT),
    )


def codes(body: dict[str, Any], name: str) -> list[int]:
    """A list of status codes (`statusList`, `status`): a list, one code or "0,5"."""
    return numbers(body, name, limit=100, high=1000)


def unique(values: list[int]) -> list[int]:
    """`values` without repeats, in their order."""
    return list(dict.fromkeys(values))


def _records(call: Call, found: list[Any]) -> list[dict[str, Any]]:
    ids = [t.id for t in found]
    extras = tasks.task_extras(call.farm.db, call.account.id, ids)
    rate = call.farm.settings.fee_per_core_hour
    fees = usage.fees(call.farm.db, call.account.id, ids, rate)
    return [records.task(t, call.account.id, extras.get(t.id), fees.get(t.id, 0.0)) for t in found]


@handles("/api/render/handle/getTaskList/v2")
def get_task_list(call: Call) -> dict[str, Any]:
    """The caller's tasks, newest first, a page at a time (a page past the end is empty).

    `statusList` keeps tasks with those SDK status codes (codes foxden never reaches, such as
    20 or 50, match nothing; an unknown code is 400); `searchKeyword` is a task id when it is all
    digits, otherwise text found in the scene path, project or artist; `startTime` and `endTime`
    bound the submit time ('yyyy-MM-dd HH:mm:ss'). `recycleFlag` 1 lists deleted tasks: foxden
    deletes tasks for good, so that list is empty."""
    body = call.body
    num, size = paging(body)
    if integer(body, "recycleFlag", 0, high=1) == 1:
        return records.page([], 0, num, size)
    filters: dict[str, Any] = {"page_no": num, "page_size": size}
    wanted = codes(body, "statusList")
    if wanted:
        filters["sdk_status"] = wanted
    keyword = text(body, "searchKeyword", "", limit=256).strip()
    if keyword.isdigit():
        filters["task_id"] = integer({"searchKeyword": keyword}, "searchKeyword")
    elif keyword:
        filters["text"] = keyword
    for ours, theirs in (("submit_time_from", "startTime"), ("submit_time_to", "endTime")):
        if body.get(theirs) not in (None, ""):
            filters[ours] = text(body, theirs, limit=64)
    found = tasks.list_tasks(call.farm.db, call.account.id, filters)
    return records.page(_records(call, found.items), found.total, num, size)


@handles("/api/render/handle/queryTaskInfo/v2")
def query_task_info(call: Call) -> dict[str, Any]:
    """The caller's tasks among `taskIds`, in the order asked. An id that is not one of the
    caller's tasks (another account's, or none) is left out: nothing tells them apart."""
    wanted = unique(ids(call.body, "taskIds"))
    found = []
    for task_id in wanted:
        try:
            found.append(tasks.get_task(call.farm.db, call.account.id, task_id))
        except NotFound:
            continue
    return records.page(_records(call, found), len(found), 1, len(wanted))


@handles("/api/render/handle/queryTaskFrames")
def query_task_frames(call: Call) -> dict[str, Any]:
    """A page of a task's frames in frame order; a page past the end is empty (the SDK reads
    pages until one is). `searchKeyword` keeps the frames it names ("12", "1-10", "1-9[2]")."""
    body = call.body
    task_id = integer(body, "taskId", low=1)
    num, size = paging(body)
    keyword = text(body, "searchKeyword", "", limit=256).strip()
    numbers = None
    if keyword:
        numbers = frame_spec.parse(keyword, max_frames=SEARCH_LIMIT)  # 400 names the bad part
    total, rows = tasks.frame_page(
        call.farm.db, call.account.id, task_id, (num - 1) * size, size, numbers
    )
    return records.page([records.frame(f, task_id) for f in rows], total, num, size)


@handles("/api/render/handle/queryAllFrameStats")
def query_all_frame_stats(call: Call) -> dict[str, int]:
    """How many frames of the caller's tasks are in each status."""
    totals = tasks.frame_totals(call.farm.db, call.account.id)
    return {
        "executingFramesTotal": totals[FrameStatus.RUNNING.value],
        "doneFramesTotal": totals[FrameStatus.DONE.value],
        "failedFramesTotal": totals[FrameStatus.FAILED.value],
        "waitingFramesTotal": totals[FrameStatus.WAITING.value],
        "stoppedFramesTotal": totals[FrameStatus.STOPPED.value],
        "abandonFramesTotal": totals[FrameStatus.ABORTED.value],
        "totalFrames": sum(totals.values()),
    }


@handles("/api/render/handle/loadingFrameThumbnail")
def loading_frame_thumbnail(call: Call) -> list[str]:
    """The thumbnail of the frame with row id `id`: a list holding foxden's route of it
    (`GET` with foxden's bearer key), empty while the frame has none. `frameStatus` is read
    and not needed: only a done frame has a thumbnail."""
    frame_id = integer(call.body, "id", low=1)
    integer(call.body, "frameStatus", 4, high=1000)
    task_id, number = tasks.frame_of(call.farm.db, call.account.id, frame_id)
    digest = tasks.frame_thumbnail(call.farm.db, call.account.id, task_id, number)
    return [] if digest is None else [records.thumbnail_path(task_id, number)]


@handles("/api/render/handle/loadTaskProcessImg")
def load_task_process_img(call: Call) -> dict[str, Any]:
    """A task's progress picture as the vendor shapes it: one entry in `grabInfo` for each
    frame rendering or rendered, with its thumbnail's route in `grabUrl` ('' until it has one).
    foxden renders whole frames, so `block` is 1; `frameType` is not needed."""
    task_id = integer(call.body, "taskId", low=1)
    t = tasks.get_task(call.farm.db, call.account.id, task_id, with_frames=True)
    grabs = []
    for f in t.frames_detail or []:
        if f.status not in (FrameStatus.RUNNING.value, FrameStatus.DONE.value):
            continue
        has_thumb = any(o.thumb_hash for o in f.outputs)
        grabs.append(
            [
                {
                    "frameIndex": str(f.number),
                    "frameBlock": "1",
                    "frameStatus": str(SDK_FRAME_STATUS[FrameStatus(f.status)]),
                    "framePercent": str(int(f.progress * 100)),
                    "frameUsed": str(round(f.render_time or 0)),
                    "grabUrl": records.thumbnail_path(task_id, f.number) if has_thumb else "",
                    "startTime": vendor_time(f.start_time),
                    "endTime": vendor_time(f.end_time),
                }
            ]
        )
    return {
        "block": 1,
        "isRenderPhoton": False,
        "currentTaskType": "Render",
        "sceneName": records.task(t, call.account.id)["sceneName"],
        "startTime": vendor_time(t.start_time),
        "endTime": vendor_time(t.completed_time),
        "width": None,
        "height": None,
        "grabInfo": grabs,
    }


@handles("/api/render/handle/showLog")
def show_log(call: Call) -> dict[str, Any]:
    """The log of the frame with row id `id` (every attempt, then its error), a page of lines
    at a time. foxden keeps one log per frame: `renderingType` is read and not needed."""
    body = call.body
    frame_id = integer(body, "id", low=1)
    text(body, "renderingType", "render", limit=64)
    num, size = paging(body)
    task_id, number = tasks.frame_of(call.farm.db, call.account.id, frame_id)
    lines = tasks.frame_log(call.farm.db, call.account.id, task_id, number).splitlines()
    start = (num - 1) * size
    return records.page(lines[start : start + size], len(lines), num, size)
