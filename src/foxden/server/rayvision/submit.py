"""The SDK's submit calls: reserve task ids (createTask), keep a task's config files
(taskJsonFile), submit a task from its task.json (task), and explain analysis codes."""

from __future__ import annotations

from typing import Any

from foxden.errors import BadRequest
from foxden.farm import drafts
from foxden.server.rayvision.calls import Call, handles, integer, text
from foxden.server.rayvision.records import priority_of_level

#: The most labels one createTask may give, and their longest name.
MAX_LABELS = 20
MAX_LABEL = 128
#: The most codes one queryAnalyseErrorDetail may ask about.
MAX_CODES = 200

# The codes of tips.json that foxden can say something about (the SDK's Blender analyser
# writes few of them). `type` 1 stops the SDK's check; foxden uses it only where a submission
# cannot succeed. Unknown codes get a warning: foxden's own analysis runs at submission.
_CODES: dict[str, tuple[int, str, str]] = {
    "15024": (
        1,
        "The scene file was not found on the machine that analysed it.",
        "Check task_info.input_cg_file in task.json and upload the scene before submitting.",
    ),
    "15019": (
        1,
        "The render software named in task.json was not found.",
        "Set software_config.cg_name and cg_version to software the farm's workers offer.",
    ),
    "10012": (
        0,
        "A file the scene uses (a texture or cache) is missing.",
        "Upload the file with the scene; foxden lists the missing ones in the task's warnings.",
    ),
    "15006": (
        0,
        "The scene has no camera set.",
        "Set the scene's camera, or name one in task.json (scene_info_render.common.camera_name).",
    ),
    "999": (
        0,
        "The local analysis did not finish.",
        "foxden reads frames, camera and view layers from the uploaded scene when task.json "
        "lacks them; check the task's warnings after submitting.",
    ),
}
_UNKNOWN = (
    0,
    "This code is not one foxden knows.",
    "foxden analyses the uploaded scene itself at submission; the task's warnings say what "
    "it found.",
)


@handles("/api/render/submit/createTask")
def create_task(call: Call) -> dict[str, Any]:
    """Reserve `count` task ids as drafts of the caller (submitted later by `task`)."""
    body = call.body
    count = integer(body, "count", 1, low=1, high=drafts.MAX_COUNT)
    level = integer(body, "taskUserLevel", 0, high=100) if "taskUserLevel" in body else None
    if body.get("outUserId") not in (None, ""):
        integer(body, "outUserId")  # a third party's user id: checked, not used by foxden
    ids = drafts.create_drafts(
        call.farm.db,
        call.account.id,
        count,
        artist=text(body, "artist", "", limit=128),
        labels=_labels(body),
        user_level=level,
        priority=0 if level is None else priority_of_level(level),
    )
    return {
        "taskIdList": ids,
        "aliasTaskIdList": [str(i) for i in ids],
        "userId": call.account.id,
    }


def _labels(body: dict[str, Any]) -> list[str]:
    value = body.get("labels")
    if value in (None, "", []):
        return []
    if not isinstance(value, list) or len(value) > MAX_LABELS:
        raise BadRequest(f"labels must be a list of at most {MAX_LABELS} names")
    return [text({"labels": v}, "labels", limit=MAX_LABEL).strip() for v in value]


@handles("/api/render/submit/taskJsonFile")
def task_json_file(call: Call) -> None:
    """Keep one config file (task.json, upload.json, asset.json, tips.json) of the caller's
    task; task.json is what `task` submits from."""
    body = call.body
    task_id = integer(body, "taskId", low=1)
    name = text(body, "fileName", limit=64)
    content = body.get("content")
    if not isinstance(content, str):
        raise BadRequest("content must be the file's text (a JSON string)")
    drafts.store_config(
        call.farm.db,
        call.account.id,
        task_id,
        name,
        content,
        limit=call.farm.settings.max_json_bytes,
    )


@handles("/api/render/submit/task")
def submit_task(call: Call) -> dict[str, Any]:
    """Submit the caller's draft task from the task.json it holds; the task keeps its id."""
    body = call.body
    task_id = integer(body, "taskId", low=1)
    producer = text(body, "producer", "", limit=128).strip() or None
    settings = call.farm.settings
    record = drafts.submit_draft(
        call.farm.db,
        call.farm.store,
        call.account.id,
        task_id,
        default_chunk=settings.default_chunk_size,
        default_attempts=settings.max_attempts,
        producer=producer,
    )
    return {"taskId": record.id, "frames": record.frames, "warnings": record.warnings}


@handles("/api/render/submit/queryAnalyseErrorDetail")
def error_detail(call: Call) -> list[dict[str, Any]]:
    """What the analysis codes of tips.json mean (`type` 1: an error, 0: a warning); codes
    foxden does not know are warnings."""
    body = call.body
    codes: list[str] = []
    if body.get("code") not in (None, ""):
        codes.append(text(body, "code", limit=32).strip())
    many = body.get("codes")
    if many not in (None, "", []):
        if not isinstance(many, list) or len(many) > MAX_CODES:
            raise BadRequest(f"codes must be a list of at most {MAX_CODES} codes")
        codes.extend(text({"codes": c}, "codes", limit=32).strip() for c in many)
    if not codes:
        raise BadRequest("code or codes is required: the codes of tips.json")
    language = str(body.get("language", "1"))[:8]
    return [_detail(code, language) for code in dict.fromkeys(codes)]


def _detail(code: str, language: str) -> dict[str, Any]:
    kind, description, solution = _CODES.get(code, _UNKNOWN)
    return {
        "id": int(code) if code.isdigit() and len(code) < 10 else 0,
        "code": code,
        "type": kind,
        "languageFlag": 1 if language != "0" else 0,
        "descriptionEn": description,
        "solutionEn": solution,
        "desDescriptionEn": description,
        "desSolutionEn": solution,
        # foxden speaks English only: the Chinese fields carry the same text
        "desDescriptionCn": description,
        "desSolutionCn": solution,
        "solutionPath": "",
        "isRepair": 0,
        "isDelete": 0,
        "isOpen": 1,
    }


@handles("/api/render/submit/getUserPackNodeInfo")
def pack_node_info(call: Call) -> dict[str, Any]:
    """Reserved ("packed") render nodes: foxden has none; every task shares the workers."""
    return {
        "packNodeList": [],
        "total": 0,
        "note": "foxden reserves no render nodes for an account: tasks share the farm's workers",
    }
