"""The SDK's user and account calls: profile, settings, storage ids, hardware, platforms."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from foxden.core.states import TaskStatus, sdk_task_status
from foxden.db.schema import accounts as account_table
from foxden.db.schema import tasks
from foxden.errors import BadRequest, Conflict, quote
from foxden.farm import accounts
from foxden.farm.workers import list_workers
from foxden.server.rayvision.calls import Call, handles, ids, integer, text
from foxden.server.rayvision.software import NOT_WORKING, stable_id
from foxden.vendor_records import vendor_time

#: the task time limit an account may set (seconds): a minute to thirty days, or none.
MIN_TASK_TIMEOUT_S = 60
MAX_TASK_TIMEOUT_S = 30 * 24 * 3600
#: the memory sizes (GB) hardware configs are offered in.
RAM_TIERS_GB = (8, 16, 32, 64, 128, 256, 512, 1024)
#: the vendor's standard size (its demo asks for it, its task.json defaults to it): every
#: worker offers it and the sizes below it, bigger ones only a worker that has them.
STANDARD_RAM_GB = 64
#: a machine sold as 64 GB reports a little less to the system.
_RAM_SLACK = 0.9
#: the largest page of records.
MAX_PAGE = 100


def storage_ids(account_id: int) -> dict[str, str]:
    """The account's storage ids (`bid`s): the transmitter is told which one a transfer uses."""
    return {
        "config_bid": f"config-{account_id}",
        "input_bid": f"input-{account_id}",
        "output_bid": f"output-{account_id}",
    }


@handles("/api/render/setUp/queryUserProfile")
def query_user_profile(call: Call) -> dict[str, Any]:
    """Who the caller is: `userId` (the account id), `userName`, own storage."""
    record = accounts.get_account(call.farm.db, call.account.id)
    return {
        "userId": record.id,
        "userName": record.name,
        "mainUserId": record.id,
        "shareMainCapital": 0,
        "email": record.email,
        "accountType": 1 if record.is_admin else 0,
    }


@handles("/api/render/setUp/queryUserSetting")
def query_user_setting(call: Call) -> dict[str, Any]:
    """The caller's settings. The SDK asks for them once per login (and nowhere else), so this
    call is where an SDK login is recorded (loginRecord)."""
    accounts.touch_login(call.farm.db, call.account)
    with call.farm.db.read() as conn:
        timeout = conn.execute(
            select(account_table.c.task_timeout_s).where(account_table.c.id == call.account.id)
        ).scalar()
    return {"taskOverTimeSec": timeout, "language": "en"}


@handles("/api/render/setUp/updateUserSetting")
def update_user_setting(call: Call) -> None:
    """Set the account's task time limit (`taskOverTimeSec`; 0 for none): how long one frame
    may render in the account's tasks that have no limit of their own or of their project
    (`farm/time_limits.py`)."""
    seconds = integer(call.body, "taskOverTimeSec", high=MAX_TASK_TIMEOUT_S)
    if 0 < seconds < MIN_TASK_TIMEOUT_S:
        raise BadRequest(
            f"taskOverTimeSec must be 0 (no limit) or at least {MIN_TASK_TIMEOUT_S} seconds, "
            f"not {seconds}"
        )
    with call.farm.db.write() as conn:
        conn.execute(
            update(account_table)
            .where(account_table.c.id == call.account.id)
            .values(task_timeout_s=seconds or None)
        )


@handles("/api/render/transfer/getBid")
def get_bid(call: Call) -> dict[str, Any]:
    """The account's storage ids."""
    return {**storage_ids(call.account.id), "parent_input_bid": ""}


def platform_number(call: Call) -> int:
    """The platform the caller uses (its `platform` header): this farm is that one platform."""
    return int(call.platform) if call.platform.isdigit() and len(call.platform) < 6 else 2


def _tiers(memory_mb: int) -> list[int]:
    """The memory sizes a worker is offered in.

    foxden reserves no memory for a task (its scheduler matches software and tags), so a size
    is a class, not a promise: up to the vendor's standard size every worker is offered, so
    the vendor's demo config runs on any farm; a bigger size only where a worker has it, so a
    task that asks for one fails the SDK's check on a farm without such a machine.
    """
    return [
        gb for gb in RAM_TIERS_GB if gb <= STANDARD_RAM_GB or memory_mb >= gb * 1024 * _RAM_SLACK
    ]


@handles("/api/render/hardwareConfig/list")
def hardware_configs(call: Call) -> list[dict[str, Any]]:
    """The hardware the farm's working, approved workers offer, in the SDK's shape.

    Each worker offers model "CPU" (`gpuNum` None) and, per kind of GPU it has, that model with
    1..n GPUs (`gpuNum` "n*GPU"), in memory sizes ("64GB", see `_tiers`). The SDK's check matches
    the caller's {model, ram, gpuNum} exactly against these (model "Default": any model) and
    names the ones on offer when nothing matches.
    """
    ids(call.body, "taskIds", required=False)  # configs are the farm's, whatever the task
    platform = platform_number(call)
    found: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    for worker in list_workers(call.farm.db):
        if not worker.approved or worker.status in NOT_WORKING:
            continue
        kinds: list[tuple[str, str | None]] = [("CPU", None)]
        for gpu in sorted(set(worker.gpus)):
            count = worker.gpus.count(gpu)
            kinds.extend((gpu, f"{n}*GPU") for n in range(1, count + 1))
        for gb in _tiers(worker.memory_mb):
            for model, gpus in kinds:
                key = (model, f"{gb}GB", gpus)
                found.setdefault(
                    key,
                    {
                        "id": stable_id("hardware", *key),
                        "status": 1,
                        "platform": platform,
                        "model": model,
                        "ram": key[1],
                        "gpuNum": gpus,
                        "notSupportCgId": [],
                        "notSupportCode": [],
                        "notSupportCgVersions": [],
                        "notSupportPluginList": [],
                    },
                )
    if not found:
        raise Conflict(
            "no worker of this farm is working now, so no hardware is on offer: start a worker "
            "(or ask the farm's administrator to approve one), then try again"
        )
    return sorted(
        found.values(),
        key=lambda c: (c["model"] != "CPU", c["model"], c["gpuNum"] or "", int(c["ram"][:-2])),
    )


def _date(body: dict[str, Any], name: str, end: bool) -> float | None:
    """A `startDate`/`endDate` ('yyyy-MM-dd' or 'yyyy-MM-dd HH:mm:ss'); a bare end date counts
    to the end of that day. None when empty."""
    value = text(body, name, "", limit=32).strip()
    if not value:
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            when = datetime.strptime(value, fmt).timestamp()
        except ValueError:
            continue
        return when + 86400 - 0.001 if end and fmt == "%Y-%m-%d" else when
    raise BadRequest(
        f"{name} must be a date like 'yyyy-MM-dd' or 'yyyy-MM-dd HH:mm:ss', not {quote(value)}"
    )


def _page(body: dict[str, Any]) -> tuple[int, int]:
    return integer(body, "pageNum", 1, low=1), integer(body, "pageSize", 10, low=1, high=MAX_PAGE)


def _paged(items: list[dict[str, Any]], total: int, page: int, size: int) -> dict[str, Any]:
    return {
        "pageCount": (total + size - 1) // size,
        "pageNum": page,
        "total": total,
        "size": size,
        "items": items,
    }


@handles("/api/render/handle/operate/sdk/taskRecord")
def task_record(call: Call) -> dict[str, Any]:
    """The account's tasks (newest first), one record each: submitted, started, completed."""
    body = call.body
    integer(body, "platform", platform_number(call))
    page, size = _page(body)
    where = (tasks.c.account_id == call.account.id) & (tasks.c.status != TaskStatus.DRAFT.value)
    start, end = _date(body, "startDate", False), _date(body, "endDate", True)
    if start is not None:
        where &= tasks.c.submit_time >= start
    if end is not None:
        where &= tasks.c.submit_time <= end
    with call.farm.db.read() as conn:
        total = conn.execute(select(func.count()).select_from(tasks).where(where)).scalar_one()
        rows = conn.execute(
            select(tasks)
            .where(where)
            .order_by(tasks.c.id.desc())
            .limit(size)
            .offset((page - 1) * size)
        ).all()
    items = []
    for row in rows:
        counts = {s: getattr(row, f"n_{s}") for s in ("waiting", "running", "done", "failed")}
        items.append(
            {
                "taskId": row.id,
                "projectName": row.project_name,
                "sceneName": row.scene_path.rsplit("/", 1)[-1],
                "cgSoftName": row.cg_soft_name,
                "taskStatus": sdk_task_status(row.status, counts),
                "statusText": row.status,
                "submitDate": vendor_time(row.submit_time),
                "startDate": vendor_time(row.start_time),
                "completedDate": vendor_time(row.completed_time),
            }
        )
    return _paged(items, total, page, size)


@handles("/api/render/handle/operate/sdk/loginRecord")
def login_record(call: Call) -> dict[str, Any]:
    """The account's logins that foxden keeps: the latest one (by the SDK, the web or the API)."""
    body = call.body
    page, size = _page(body)
    start, end = _date(body, "startDate", False), _date(body, "endDate", True)
    record = accounts.get_account(call.farm.db, call.account.id)
    logins = []
    when = record.login_at
    if when and (start is None or when >= start) and (end is None or when <= end):
        logins.append(
            {"userName": record.name, "loginDate": vendor_time(when), "loginTime": int(when)}
        )
    return _paged(logins[(page - 1) * size : page * size], len(logins), page, size)


@handles("/api/render/common/queryPlatforms")
def query_platforms(call: Call) -> list[dict[str, Any]]:
    """This farm, as the one platform there is (numbered as the caller numbers it)."""
    integer(call.body, "zone", low=1, high=2)
    return [{"platform": platform_number(call), "name": f"foxden {call.domain}".strip()}]
