"""The SDK's transfer calls: where its transmitter sends and fetches files (this farm), and
what is in the account's output storage.

The SDK starts a transmitter program with `-H <server> -P <port>` from getConfig's default
line of the engine it uses ("aspera" by default). foxden's transmitter (`foxden-transmit`)
takes a `-H` that holds "://" as the farm's base URL, so `server` here is that URL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from foxden.core.states import TaskStatus
from foxden.db.schema import tasks
from foxden.errors import BadRequest, NotFound, quote
from foxden.farm.tasks import task_outputs
from foxden.server.rayvision.account import platform_number
from foxden.server.rayvision.calls import Call, handles, integer, text

#: the engines the SDK can be told to use; foxden's transmitter stands in for "aspera".
ENGINE = "aspera"
#: entries one getOutputUserDirFile reply lists at most.
MAX_ENTRIES = 5000


def base_url(call: Call) -> tuple[str, str, int]:
    """This farm's base URL as the caller reached it (or `public_url` when set), its host
    and its port."""
    public = call.farm.settings.public_url.strip().rstrip("/")
    url = public or f"{call.scheme}://{call.domain}"
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return url, parts.hostname or "", port


@handles("/api/render/transfer/getConfig")
def get_config(call: Call) -> dict[str, Any]:
    """The transfer lines: one engine, "aspera", whose default line is this farm."""
    url, _, port = base_url(call)
    line = {"name": "foxden", "server": url, "port": port, "isDefault": 1}
    return {"resqEngines": [{"engineName": ENGINE, "respTaskEngineLines": [line]}]}


@handles("/api/render/transfer/getRaySyncUserKey")
def get_raysync_user_key(call: Call) -> dict[str, Any]:
    """The SDK asks for a Raysync password part before every upload and download.

    foxden's transmitter does not use it: it sends the account's foxden access key
    (FOXDEN_* variables or the stored login) over foxden's own transfers. So the key here is a fixed placeholder, not a secret, and grants nothing.
    """
    return {
        "raySyncUserKey": "foxden-not-used",
        "userName": call.account.name,
        "platform": platform_number(call),
    }


@handles("/api/render/transfer/getServerInfo")
def get_server_info(call: Call) -> dict[str, Any]:
    """Where the transfer server is: this farm."""
    integer(call.body, "zone", 1, low=1, high=2)
    _, host, port = base_url(call)
    return {
        "raysyncTransfer": {
            "serverIp": host,
            "serverPort": port,
            "port": port,
            "sslPort": port,
            "proxyIp": host,
            "proxyPort": port,
        }
    }


def _tree_path(body: dict[str, Any]) -> list[str]:
    """`treePath` as its parts ('/' -> [], '/12_shot/a' -> ['12_shot', 'a'])."""
    raw = text(body, "treePath", limit=1024).replace("\\", "/")
    parts = [p for p in raw.split("/") if p and p != "."]
    if ".." in parts:
        raise BadRequest(f"treePath must not go up ('..'): {quote(raw)}")
    return parts


def _listing(
    folder: str, task_id: int, entries: list[tuple[str, int]], under: list[str]
) -> list[dict[str, Any]]:
    """The files and folders right under `under` in a task's output folder."""
    prefix = "/".join(under)
    seen: dict[str, dict[str, Any]] = {}
    for path, size in entries:
        if prefix and not path.startswith(prefix + "/"):
            continue
        rest = path[len(prefix) + 1 :] if prefix else path
        name, _, deeper = rest.partition("/")
        full = "/" + "/".join([folder, *under, name])
        entry = seen.setdefault(
            name,
            {"name": name, "path": full, "isDir": bool(deeper), "size": 0, "taskId": task_id},
        )
        entry["size"] += size
    return sorted(seen.values(), key=lambda e: (not e["isDir"], e["name"]))[:MAX_ENTRIES]


def _outputs(call: Call, task_id: int, folder: str) -> list[tuple[str, int]]:
    """A task's outputs by their path inside its output folder (stored with the folder)."""
    found = task_outputs(call.farm.db, call.account.id, task_id)
    return [(o.path.removeprefix(folder + "/"), o.size) for o in found]


@handles("/api/render/file/operate/getOutputUserDirFile")
def get_output_files(call: Call) -> list[dict[str, Any]]:
    """What is in the account's output storage: one folder per task ("<id>_<scene>", the name
    the SDK downloads), the task's outputs inside it.

    With `taskId`, the top of that task's folder. Without, `treePath` walks the storage: "/"
    lists the task folders, "/<folder>/..." what is in one.
    """
    body = call.body
    under = _tree_path(body)
    if body.get("taskId") not in (None, ""):
        task_id = integer(body, "taskId", low=1)
        folder = _folder(call, task_id)
        return _listing(folder, task_id, _outputs(call, task_id, folder), [])
    if not under:
        with call.farm.db.read() as conn:
            rows = conn.execute(
                select(tasks.c.id, tasks.c.output_folder)
                .where(
                    (tasks.c.account_id == call.account.id)
                    & (tasks.c.status != TaskStatus.DRAFT.value)
                    & (tasks.c.output_folder != "")
                )
                .order_by(tasks.c.id.desc())
                .limit(MAX_ENTRIES)
            ).all()
        return [
            {
                "name": r.output_folder,
                "path": f"/{r.output_folder}",
                "isDir": True,
                "size": 0,
                "taskId": r.id,
            }
            for r in rows
        ]
    head = under[0]
    task_text = head.split("_", 1)[0]
    task_id = int(task_text) if task_text.isdigit() and len(task_text) < 10 else 0
    if not task_id or _folder(call, task_id, missing_ok=True) != head:
        raise NotFound(
            f"no folder {quote('/' + head)} in your output storage: list '/' to see yours"
        )
    return _listing(head, task_id, _outputs(call, task_id, head), under[1:])


def _folder(call: Call, task_id: int, missing_ok: bool = False) -> str:
    """The output folder of one of the caller's tasks (404 for another account's)."""
    with call.farm.db.read() as conn:
        folder = conn.execute(
            select(tasks.c.output_folder).where(
                (tasks.c.id == task_id)
                & (tasks.c.account_id == call.account.id)
                & (tasks.c.status != TaskStatus.DRAFT.value)
            )
        ).scalar()
    if folder is None:
        if missing_ok:
            return ""
        raise NotFound(f"no task {task_id} in your account")
    return str(folder)
