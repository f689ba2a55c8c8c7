"""The vendor's record shapes and names (Renderbus `Fox`), built from foxden's records."""

from __future__ import annotations

import time
from typing import Any

from foxden.core.states import vendor_task_status


def vendor_time(epoch: float | None) -> str:
    """`yyyy-MM-dd HH:mm:ss` in local time, or '' for none."""
    if not epoch:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def user(record: dict[str, Any]) -> dict[str, Any]:
    """A user record as the vendor shaped it."""
    return {
        "id": record["id"],
        "login_name": record["name"],
        "user_name": record["name"],
        "role": "admin" if record["is_admin"] else "user",
        "email": record.get("email", ""),
        "account_type": 1,
        "balance": 0,
        "coupon": 0,
        "register_date": vendor_time(record.get("created_at")),
        "login_date": vendor_time(record.get("login_at")),
    }


def project(record: dict[str, Any]) -> dict[str, Any]:
    """A project record as the vendor shaped it (it already uses the vendor's names)."""
    out = dict(record)
    out["create_time"] = vendor_time(record.get("create_time"))
    return out


def frame(record: dict[str, Any]) -> dict[str, Any]:
    """A frame ("job") record as the vendor shaped it."""
    consume = record.get("render_time")
    return {
        "job_id": record["id"],
        "job_name": f"frame{record['number']:04d}",
        "frame": record["number"],
        "job_status": record["status"],
        "start_time": vendor_time(record.get("start_time")),
        "end_time": vendor_time(record.get("end_time")),
        "consume_time": round(consume, 3) if consume is not None else 0,
        "attempts": record.get("attempts", 0),
        "error": record.get("error", ""),
        "outputs": [o["path"] for o in record.get("outputs", [])],
    }


def task(record: dict[str, Any]) -> dict[str, Any]:
    """A task record as the vendor shaped it; `jobs` holds the frames when they were asked for."""
    counts = record["counts"]
    out = {
        "task_id": record["id"],
        "project_name": record["project_name"],
        "task_status": vendor_task_status(record["status"], counts),
        "status": record["status"],
        "frames": record["frames"],
        "frame_count": record["frame_count"],
        "done_count": counts["done"],
        "failed_count": counts["failed"],
        "executing_count": counts["running"],
        "waiting_count": counts["waiting"],
        "abort_count": counts["aborted"],
        "stopped_count": counts["stopped"],
        "cg_soft_name": record["cg_soft_name"],
        "plugin_name": record["plugin_name"],
        "input_scene_path": record["scene_path"],
        "camera": record["camera"],
        "render_layer": record["render_layer"],
        "artist": record["artist"],
        "submit_account": record["submit_account"],
        "submit_time": vendor_time(record["submit_time"]),
        "completed_time": vendor_time(record["completed_time"]),
        "output_folder": record["output_folder"],
        "warnings": record["warnings"],
        "fee": 0,
    }
    if "frames_detail" in record:
        out["jobs"] = [frame(f) for f in record["frames_detail"]]
    return out


#: vendor restart_type code -> foxden restart kind.
RESTART_TYPES = {0: "failed", 1: "aborted", 2: "done", 3: "running", 4: "waiting"}
