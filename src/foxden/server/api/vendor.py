"""The vendor's single endpoint, `POST /api/v1/task` with `{head, body}`, for old clients."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.concurrency import run_in_threadpool

from foxden import vendor_records
from foxden.core.states import TaskOp
from foxden.errors import BadRequest, FoxdenError, NotFound, TooManyRequests, Unauthorized, quote
from foxden.farm import accounts, projects, tasks, usage, workers
from foxden.farm.accounts import Account
from foxden.server.context import Farm
from foxden.server.guards import MESSAGE as OUT_OF_RANGE
from foxden.server.logins import client_address
from foxden.wire.api import PluginConfigChange, PluginConfigIn, ProjectOut
from foxden.wire.vendor import (
    VendorPlugin,
    VendorRecord,
    VendorReply,
    VendorTaskCreated,
    VendorTaskDeleted,
    VendorTransport,
)

router = APIRouter(tags=["vendor"])
log = logging.getLogger("foxden.server")

PATH = "/api/v1/task"
#: The largest id a vendor call may name (ids are 32-bit integers on PostgreSQL).
MAX_ID = 2**31 - 1


def _reply(
    data: VendorRecord | list[VendorRecord], total: int | None = None, **extra: Any
) -> dict[str, Any]:
    items = data if isinstance(data, list) else [data]
    return {
        "head": {"result": "0", "error_code": "0", "error_message": ""},
        "body": {"data": items, "total_size": len(items) if total is None else total, **extra},
    }


def error_reply(code: int, message: str, retry_after: int | None = None) -> JSONResponse:
    """A failure as the vendor sent it: HTTP 200, `result` "1", the code and the message in
    `head` (the vendor's client reads nothing of a reply whose status is not 200)."""
    return JSONResponse(
        {
            "head": {"result": "1", "error_code": str(code), "error_message": message},
            "body": {"data": [], "total_size": 0},
        },
        headers={"Retry-After": str(retry_after)} if retry_after is not None else None,
    )


@router.post(
    PATH,
    response_model=None,
    responses={
        200: {
            "model": VendorReply,
            "description": 'The action\'s records in `body.data` (`head.result` "0"), or the '
            'error in `head` (`result` "1", `error_code`, `error_message`): every reply, '
            "success or failure, has HTTP status 200, as the vendor's client expects.",
        },
    },
)
async def vendor_call(request: Request) -> JSONResponse:
    """One vendor action (`query_task`, `create_task`, ...); errors come back in `head`."""
    farm: Farm = request.app.state.farm
    try:
        try:
            payload = json.loads(await request.body())
        except ValueError:
            raise BadRequest("the body is not JSON") from None
        if not isinstance(payload, dict):
            raise BadRequest('the body must be a JSON object: {"head": {...}, "body": {...}}')
        head = payload.get("head") or {}
        body = payload.get("body") or {}
        if not isinstance(head, dict) or not isinstance(body, dict):
            raise BadRequest('"head" and "body" must be JSON objects')
        account = _login(farm, request, head)
        action = str(head.get("action", ""))
        result = await run_in_threadpool(_dispatch, farm, account, action, body)
        if action == "query_customer":
            user = result["body"]["data"][0]
            user["upload_id"] = user["download_id"] = account.id
            user["transports"] = [_transport(request)]
        return JSONResponse(result)
    except TooManyRequests as exc:
        return error_reply(exc.status_code, exc.message, exc.retry_after)
    except FoxdenError as exc:
        return error_reply(exc.status_code, exc.message)
    except (DataError, OverflowError) as exc:
        log.warning("refused %s: %s", PATH, str(exc)[:200], extra={"event": "out_of_range"})
        return error_reply(422, OUT_OF_RANGE)
    except (TypeError, ValueError) as exc:
        log.warning("refused %s: %s", PATH, str(exc)[:200], extra={"event": "vendor_bad_value"})
        return error_reply(400, f"a field of the request has the wrong type or value: {exc}"[:500])
    except Exception:
        log.exception("the vendor endpoint failed", extra={"event": "vendor_error"})
        return error_reply(500, "Server internal error: the farm failed to answer this call")


def _transport(request: Request) -> VendorTransport:
    """foxden's own HTTP(S) transfer, at the host and port this request came in by."""
    url = request.url
    port = url.port or (443 if url.scheme == "https" else 80)
    server = request.scope.get("server")
    ip = str(server[0]) if server else (url.hostname or "")
    return VendorTransport(
        engine="foxden-http" if url.scheme == "http" else "foxden-https",
        server=url.hostname or ip,
        ip=ip,
        port=port,
    )


def _int(name: str, value: Any, low: int = 0, high: int = MAX_ID) -> int:
    """A whole number the vendor's client sent as a number or as text ("12")."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadRequest(f"{name} must be a whole number, not {value!r}"[:300])
    text = str(value).strip()
    if not text.lstrip("-").isdigit() or len(text) > 30:
        raise BadRequest(f"{name} must be a whole number, not {quote(text[:40])}")
    number = int(text)
    if not low <= number <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, not {number}")
    return number


def _ids(name: str, value: Any) -> list[int]:
    """Ids as one number, one string ("12"), a string of several ("12,13,14") or a list."""
    items = (
        value
        if isinstance(value, list)
        else str(value).split(",")
        if isinstance(value, str)
        else [value]
    )
    ids = [_int(name, i) for i in items if not (isinstance(i, str) and not i.strip())]
    if not ids:
        raise BadRequest(f'{name} names no task: give an id, "12,13" or a list of ids')
    return ids


def _flag(value: Any) -> bool:
    """A yes/no the vendor's client sent as 1/0, "1"/"0" or a boolean."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _login(farm: Farm, request: Request, head: dict[str, Any]) -> Account:
    """The account of the call's `access_key` (and `account`); failures are rate-limited."""
    name = head.get("account")
    name = str(name) if name is not None else None
    address = client_address(request)
    farm.logins.check(address, name)
    try:
        with farm.db.read() as conn:
            return accounts.authenticate(conn, head.get("access_key"), name)
    except Unauthorized:
        farm.logins.failed(address, name)
        raise


def _dispatch(farm: Farm, account: Account, action: str, body: dict[str, Any]) -> dict[str, Any]:
    db = farm.db
    if action == "query_customer":
        return _reply(vendor_records.user(accounts.get_account(db, account.id)))
    if action == "query_project":
        name = body.get("project_name") or None
        return _reply(
            [
                vendor_records.project(p)
                for p in projects.list_projects(db, account.id, None if name is None else str(name))
            ]
        )
    if action == "query_plugin":
        reply = _reply([_plugin_on_offer(s) for s in workers.software_on_offer(db)])
        wanted = {k: str(body[k]) for k in ("cg_soft_name", "plugin_name") if body.get(k)}
        found = [p for p in reply["body"]["data"] if all(w in p[k] for k, w in wanted.items())]
        reply["body"] = found  # the vendor's client reads the list as the body itself
        return reply
    if action == "create_project":
        configs = body.get("plugins") or []
        if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
            raise BadRequest("plugins must be a list of {cg_soft_name, plugin_name, is_default}")
        created = projects.create_project(
            db,
            account.id,
            str(body.get("project_name", "")),
            str(body.get("project_path", "")),
            str(body.get("remark", "")),
            str(body.get("render_os") or "linux"),
            [_plugin_config(c) for c in configs],
        )
        return _reply(vendor_records.project(created), project_id=created.project_id)
    if action == "operate_project":
        return _reply(vendor_records.project(_operate_project(farm, account, body)))
    if action == "query_task":
        return _query_task(farm, account, body)
    if action == "create_task":
        record = tasks.submit(
            db,
            farm.store,
            account.id,
            _submission(body),
            default_chunk=farm.settings.default_chunk_size,
            default_attempts=farm.settings.max_attempts,
        )
        return _reply(VendorTaskCreated(task_id=record.id))
    if action == "operate_task":
        return _reply(_operate_task(farm, account, body))
    raise BadRequest(f"unknown action {quote(action[:60])}: use one of {', '.join(ACTIONS)}")


def _submission(body: dict[str, Any]) -> dict[str, Any]:
    """A `create_task` body as foxden submits it. The vendor's client strips ':' from the scene
    path (`E:\\shot\\a.mb` arrives as `E/shot/a.mb`): a leading one-letter folder is the drive,
    lower-cased as the account tree stores drives (`/e/shot/a.mb`)."""
    scene = body.get("input_scene_path")
    if isinstance(scene, str) and _DRIVE_NO_COLON.match(scene):
        body = {**body, "input_scene_path": scene[0].lower() + scene[1:]}
    return body


_DRIVE_NO_COLON = re.compile(r"^[A-Za-z][/\\]")

ACTIONS = (
    "query_customer",
    "query_project",
    "query_plugin",
    "create_project",
    "operate_project",
    "query_task",
    "create_task",
    "operate_task",
)


def _plugin_on_offer(software: Any) -> VendorPlugin:
    return VendorPlugin(cg_soft_name=software.cg_soft_name, plugin_name=",".join(software.plugins))


def _query_task(farm: Farm, account: Account, body: dict[str, Any]) -> dict[str, Any]:
    """Tasks by the vendor's filters, at the top of the body or in `task_filter`; the frames as
    `jobs` with `is_jobs_included` "1" (or `has_frames`)."""
    filters = dict(body)
    nested = filters.pop("task_filter", None) or {}
    if not isinstance(nested, dict):
        raise BadRequest("task_filter must be a JSON object")
    filters.update(nested)
    with_frames = _flag(filters.pop("is_jobs_included", 0)) or _flag(filters.pop("has_frames", 0))
    if filters.get("task_id") not in (None, ""):
        filters["task_id"] = _int("task_id", filters["task_id"])
    filters["with_frames"] = with_frames
    page = tasks.task_page(farm.db, account.id, filters)
    items = page.tasks.items  # the records as JSON values, reshaped as they are
    ids = [t["id"] for t in items]
    fees = usage.fees(farm.db, account.id, ids, farm.settings.fee_per_core_hour)
    return _reply([vendor_records.task(t, fees.get(t["id"], 0.0)) for t in items], page.total)


def _plugin_config(body: dict[str, Any]) -> PluginConfigIn:
    """A plugin config of a vendor body (`cg_soft_name`, `plugin_name`, `is_default`)."""
    return PluginConfigIn(
        cg_soft_name=str(body.get("cg_soft_name") or ""),
        plugin_name=str(body.get("plugin_name") or ""),
        is_default=_flag(body.get("is_default")),
    )


def _config_change(body: dict[str, Any]) -> PluginConfigChange:
    """The changes to a plugin config a vendor body names (keys left out or null stay as they
    are; `is_default` 1 makes it the default)."""
    return PluginConfigChange(
        **{k: str(body[k]) for k in ("cg_soft_name", "plugin_name") if body.get(k) is not None},
        is_default=_flag(body.get("is_default")),
    )


def _project_name(farm: Farm, account: Account, body: dict[str, Any]) -> str:
    """The project a call names: by `project_id` (the vendor's client) or `project_name`."""
    if body.get("project_id") in (None, ""):
        if not body.get("project_name"):
            raise BadRequest("name the project: project_id (or project_name)")
        return str(body["project_name"])
    project_id = _int("project_id", body["project_id"])
    for p in projects.list_projects(farm.db, account.id):
        if p.project_id == project_id:
            return p.project_name
    raise NotFound(f"no project {project_id} in your account")


def _operate_project(farm: Farm, account: Account, body: dict[str, Any]) -> ProjectOut:
    """Add (0), modify (1) or delete (2) a plugin config; delete without `config_id` deletes
    all the project's configs."""
    name = _project_name(farm, account, body)
    op = str(body.get("operate_type", body.get("operation", ""))).strip()
    if op in ("0", "add"):
        return projects.add_config(farm.db, account.id, name, _plugin_config(body))
    if op in ("1", "modify"):
        config_id = _int("config_id", body.get("config_id"))
        return projects.modify_config(farm.db, account.id, name, config_id, _config_change(body))
    if op in ("2", "delete"):
        if body.get("config_id") not in (None, ""):
            config_id = _int("config_id", body["config_id"])
            return projects.delete_config(farm.db, account.id, name, config_id)
        found = projects.list_projects(farm.db, account.id, name)
        if not found:
            raise NotFound(f"no project named {quote(name[:60])} in your account")
        project = found[0]
        for config in project.plugins:
            project = projects.delete_config(farm.db, account.id, name, config.config_id)
        return project
    raise BadRequest("operate_type must be 0 (add), 1 (modify) or 2 (delete)")


def _operate_task(farm: Farm, account: Account, body: dict[str, Any]) -> list[VendorRecord]:
    """Stop ("0"), restart ("1", with `restart_type`) or delete ("2") tasks named by one id,
    a string of ids ("12,13,14") or a list."""
    raw = body.get("task_id", body.get("task_ids"))
    if raw is None:
        raise BadRequest('task_id is required: an id, "12,13" or a list of ids')
    ids = _ids("task_id", raw)
    op = str(body.get("operate_order", body.get("operate_type", ""))).strip()
    kind = "failed"
    if op == "1":
        code = _int("restart_type", body.get("restart_type") or 0, 0, 4)
        kind = vendor_records.RESTART_TYPES[code]
    elif op not in ("0", "2"):
        raise BadRequest("operate_order must be 0 (stop), 1 (restart) or 2 (delete)")
    results: list[VendorRecord] = []
    for task_id in ids:
        fee = usage.fees(farm.db, account.id, [task_id], farm.settings.fee_per_core_hour)
        if op == "0":
            rec = tasks.operate(farm.db, account.id, task_id, TaskOp.STOP)
            results.append(vendor_records.task(rec, fee.get(task_id, 0.0)))
        elif op == "1":
            rec = tasks.operate(farm.db, account.id, task_id, TaskOp.RESTART, restart=kind)
            results.append(vendor_records.task(rec, fee.get(task_id, 0.0)))
        else:
            tasks.delete_task(farm.db, account.id, task_id)
            results.append(VendorTaskDeleted(task_id=task_id, deleted=True))
    return results
