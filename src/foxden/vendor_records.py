"""The vendor's record shapes and names (Renderbus `Fox`), built from foxden's records.

The inputs are foxden's replies (`foxden.wire.api`: a model, or the plain dict a service or a
JSON reply gives, read into that model); the outputs are the vendor's shapes
(`foxden.wire.vendor`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, TypeVar

from foxden.core.states import vendor_task_status
from foxden.wire.api import AccountOut, FrameOut, ProjectOut, TaskOut
from foxden.wire.fields import Record
from foxden.wire.vendor import VendorJob, VendorPluginConfig, VendorProject, VendorTask, VendorUser

R = TypeVar("R", bound=Record)


def vendor_time(epoch: float | None) -> str:
    """`yyyy-MM-dd HH:mm:ss` in local time, or '' for none."""
    if not epoch:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _read(shape: type[R], record: R | Mapping[str, Any]) -> R:
    return record if isinstance(record, shape) else shape.model_validate(record)


def user(record: AccountOut | Mapping[str, Any]) -> VendorUser:
    """A user record as the vendor shaped it."""
    account = _read(AccountOut, record)
    return {
        "id": account.id,
        "login_name": account.name,
        "user_name": account.name,
        "role": "admin" if account.is_admin else "user",
        "email": account.email,
        "account_type": 1,
        "balance": 0,
        "coupon": 0,
        "register_date": vendor_time(account.created_at),
        "login_date": vendor_time(account.login_at),
    }


def project(record: ProjectOut | Mapping[str, Any]) -> VendorProject:
    """A project record as the vendor shaped it (it already uses the vendor's names; a plugin
    config's `is_default` is "1" or "0", the strings the vendor's client compares)."""
    p = _read(ProjectOut, record)
    return {
        "project_id": p.project_id,
        "project_name": p.project_name,
        "project_path": p.project_path,
        "render_os": p.render_os,
        "remark": p.remark,
        "create_time": vendor_time(p.create_time),
        "plugins": [
            VendorPluginConfig(
                config_id=c.config_id,
                cg_soft_name=c.cg_soft_name,
                plugin_name=c.plugin_name,
                is_default="1" if c.is_default else "0",
            )
            for c in p.plugins
        ],
        "allow_network": p.allow_network,
        "allow_scripts": p.allow_scripts,
    }


def frame(record: FrameOut | Mapping[str, Any]) -> VendorJob:
    """A frame ("job") record as the vendor shaped it."""
    f = _read(FrameOut, record)
    return {
        "job_id": f.id,
        "job_name": f"frame{f.number:04d}",
        "frame": f.number,
        "job_status": f.status,
        "start_time": vendor_time(f.start_time),
        "end_time": vendor_time(f.end_time),
        "consume_time": round(f.render_time, 3) if f.render_time is not None else 0,
        "attempts": f.attempts,
        "error": f.error,
        "failure_category": f.failure_category,
        "advice": f.advice,
        "outputs": [o.path for o in f.outputs],
    }


#: the fields of a task's record that `task` reads (every record of the farm's lists has them)
_TASK_KEYS = frozenset(
    {
        "id",
        "project_name",
        "status",
        "frames",
        "frame_count",
        "counts",
        "cg_soft_name",
        "plugin_name",
        "scene_path",
        "camera",
        "render_layer",
        "artist",
        "submit_account",
        "submit_time",
        "completed_time",
        "output_folder",
        "warnings",
        "failure_summary",
        "eta_seconds",
        "core_hours",
    }
)


def _task_fields(record: TaskOut | Mapping[str, Any]) -> Mapping[str, Any]:
    """A task's fields by name: a `TaskOut`'s own, or a complete JSON record as it is (what the
    farm's list gives: read as it comes, not into a model first); a partial one is read into
    `TaskOut` (its defaults, its checks)."""
    if isinstance(record, TaskOut):
        return record.__dict__
    if record.keys() >= _TASK_KEYS:
        return record
    return TaskOut.model_validate(record).__dict__


def task(record: TaskOut | Mapping[str, Any], fee: float = 0.0) -> VendorTask:
    """A task record as the vendor shaped it; `jobs` holds the frames when they were asked for.
    `record`: a `TaskOut` or its JSON (the farm's reply, decoded). `fee`: what its frames cost
    so far (core-hours x the farm's rate, `foxden.farm.usage`)."""
    t = _task_fields(record)
    counts = t["counts"]
    out: VendorTask = {
        "task_id": t["id"],
        "project_name": t["project_name"],
        "task_status": vendor_task_status(t["status"], counts),
        "status": t["status"],
        "frames": t["frames"],
        "frame_count": t["frame_count"],
        "done_count": counts["done"],
        "failed_count": counts["failed"],
        "executing_count": counts["running"],
        "waiting_count": counts["waiting"],
        "abort_count": counts["aborted"],
        "stopped_count": counts["stopped"],
        "cg_soft_name": t["cg_soft_name"],
        "plugin_name": t["plugin_name"],
        "input_scene_path": t["scene_path"],
        "camera": t["camera"],
        "render_layer": t["render_layer"],
        "artist": t["artist"],
        "submit_account": t["submit_account"],
        "submit_time": vendor_time(t["submit_time"]),
        "completed_time": vendor_time(t["completed_time"]),
        "output_folder": t["output_folder"],
        "warnings": list(t["warnings"]),
        "failure_summary": t["failure_summary"],
        "eta_seconds": t["eta_seconds"],
        "core_hours": t["core_hours"],
        "fee": fee,
    }
    detail = t.get("frames_detail")
    if detail is not None:
        out["jobs"] = [frame(f) for f in detail]
    return out


#: vendor restart_type code -> foxden restart kind.
RESTART_TYPES = {0: "failed", 1: "aborted", 2: "done", 3: "running", 4: "waiting"}
