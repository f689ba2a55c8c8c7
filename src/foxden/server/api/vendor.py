"""The vendor's single endpoint, `POST /api/v1/task` with `{head, body}`, for old clients."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from foxden import vendor_records
from foxden.core.states import TaskOp
from foxden.errors import BadRequest, FoxdenError, TooManyRequests, Unauthorized, quote
from foxden.farm import accounts, projects, tasks, workers
from foxden.farm.accounts import Account
from foxden.server.context import Farm
from foxden.server.logins import client_address
from foxden.wire.api import PluginConfigChange, PluginConfigIn, ProjectOut
from foxden.wire.vendor import (
    VendorPlugin,
    VendorRecord,
    VendorReply,
    VendorTaskDeleted,
)

router = APIRouter(tags=["vendor"])


def _reply(data: VendorRecord | list[VendorRecord], total: int | None = None) -> dict[str, Any]:
    items = data if isinstance(data, list) else [data]
    return {
        "head": {"result": "0", "error_code": "0", "error_message": ""},
        "body": {"data": items, "total_size": len(items) if total is None else total},
    }


@router.post(
    "/api/v1/task",
    response_model=None,
    responses={
        200: {"model": VendorReply, "description": "The action's records in `body.data`."},
        "4XX": {"model": VendorReply, "description": 'The error in `head` (`result` "1").'},
    },
)
async def vendor_call(request: Request) -> JSONResponse:
    """One vendor action (`query_task`, `create_task`, ...); errors come back in `head`."""
    farm: Farm = request.app.state.farm
    try:
        payload = await request.json()
        if not isinstance(payload, dict):
            raise BadRequest('the body must be a JSON object: {"head": {...}, "body": {...}}')
        head = payload.get("head") or {}
        body = payload.get("body") or {}
        if not isinstance(head, dict) or not isinstance(body, dict):
            raise BadRequest('"head" and "body" must be JSON objects')
        account = _login(farm, request, head)
        result = await run_in_threadpool(
            _dispatch, farm, account, str(head.get("action", "")), body
        )
        return JSONResponse(result)
    except FoxdenError as exc:
        return JSONResponse(
            {
                "head": {
                    "result": "1",
                    "error_code": str(exc.status_code),
                    "error_message": exc.message,
                },
                "body": {"data": [], "total_size": 0},
            },
            status_code=exc.status_code,
            headers={"Retry-After": str(exc.retry_after)}
            if isinstance(exc, TooManyRequests)
            else None,
        )
    except ValueError:
        return JSONResponse(
            {
                "head": {
                    "result": "1",
                    "error_code": "400",
                    "error_message": "the body is not JSON",
                },
                "body": {"data": [], "total_size": 0},
            },
            status_code=400,
        )


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
            [vendor_records.project(p) for p in projects.list_projects(db, account.id, name)]
        )
    if action == "query_plugin":
        return _reply(
            [
                VendorPlugin(cg_soft_name=s.cg_soft_name, plugin_name=",".join(s.plugins))
                for s in workers.software_on_offer(db)
            ]
        )
    if action == "create_project":
        return _reply(
            vendor_records.project(
                projects.create_project(
                    db,
                    account.id,
                    str(body.get("project_name", "")),
                    str(body.get("project_path", "")),
                    str(body.get("remark", "")),
                    str(body.get("render_os", "linux")),
                    [_plugin_config(c) for c in body.get("plugins") or []],
                )
            )
        )
    if action == "operate_project":
        return _reply(vendor_records.project(_operate_project(farm, account, body)))
    if action == "query_task":
        filters = dict(body)
        has_frames = bool(int(filters.pop("has_frames", 0) or 0))
        filters["with_frames"] = has_frames
        page = tasks.list_tasks(db, account.id, filters)
        return _reply([vendor_records.task(t) for t in page.items], page.total)
    if action == "create_task":
        record = tasks.submit(
            db,
            farm.store,
            account.id,
            body,
            default_chunk=farm.settings.default_chunk_size,
            default_attempts=farm.settings.max_attempts,
        )
        return _reply({"task_id": record.id})
    if action == "operate_task":
        return _reply(_operate_task(farm, account, body))
    raise BadRequest(f"unknown action {quote(action)}")


def _plugin_config(body: dict[str, Any]) -> PluginConfigIn:
    """A plugin config of a vendor body (`cg_soft_name`, `plugin_name`, `is_default`)."""
    return PluginConfigIn(
        cg_soft_name=str(body.get("cg_soft_name", "")),
        plugin_name=str(body.get("plugin_name") or ""),
        is_default=bool(body.get("is_default")),
    )


def _config_change(body: dict[str, Any]) -> PluginConfigChange:
    """The changes to a plugin config a vendor body names (keys left out stay as they are)."""
    return PluginConfigChange(
        **{k: str(body[k]) for k in ("cg_soft_name", "plugin_name") if k in body},
        is_default=bool(body.get("is_default")),
    )


def _operate_project(farm: Farm, account: Account, body: dict[str, Any]) -> ProjectOut:
    name = str(body.get("project_name", ""))
    op = str(body.get("operate_type", body.get("operation", "")))
    if op in ("0", "add"):
        return projects.add_config(farm.db, account.id, name, _plugin_config(body))
    if op in ("1", "modify"):
        config_id = int(body["config_id"])
        return projects.modify_config(farm.db, account.id, name, config_id, _config_change(body))
    if op in ("2", "delete"):
        return projects.delete_config(farm.db, account.id, name, int(body["config_id"]))
    raise BadRequest("operate_type must be 0 (add), 1 (modify) or 2 (delete)")


def _operate_task(farm: Farm, account: Account, body: dict[str, Any]) -> list[VendorRecord]:
    ids = body.get("task_id") or body.get("task_ids") or []
    ids = ids if isinstance(ids, list) else [ids]
    op = int(body.get("operate_order", body.get("operate_type", -1)))
    results: list[VendorRecord] = []
    for task_id in ids:
        if op == 0:
            rec = tasks.operate(farm.db, account.id, int(task_id), TaskOp.STOP)
        elif op == 1:
            kind = vendor_records.RESTART_TYPES.get(int(body.get("restart_type", 0)), "failed")
            rec = tasks.operate(farm.db, account.id, int(task_id), TaskOp.RESTART, restart=kind)
        elif op == 2:
            tasks.delete_task(farm.db, account.id, int(task_id))
            results.append(VendorTaskDeleted(task_id=task_id, deleted=True))
            continue
        else:
            raise BadRequest("operate_order must be 0 (stop), 1 (restart) or 2 (delete)")
        results.append(vendor_records.task(rec))
    return results
