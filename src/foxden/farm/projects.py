"""Projects and their plugin configs (software + plugins, one of them the default)."""

from __future__ import annotations

import re
import time
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from foxden.core.software import software_key
from foxden.db.engine import Database, new_id
from foxden.db.schema import plugin_configs, projects
from foxden.errors import BadRequest, Conflict, NotFound
from foxden.farm.privileges import project_rights, require_allowed
from foxden.farm.time_limits import limit_seconds
from foxden.farm.workers import software_available, software_on_offer
from foxden.wire.api import (
    PluginConfigChange,
    PluginConfigIn,
    PluginConfigOut,
    ProjectChange,
    ProjectOut,
)

_NAME = re.compile(r"^[^/\\\x00-\x1f]{1,128}$")


def _config_record(row: Any) -> PluginConfigOut:
    return PluginConfigOut(
        config_id=row.id,
        cg_soft_name=row.cg_soft_name,
        plugin_name=row.plugin_name,
        is_default=bool(row.is_default),
    )


def _project_record(conn: Connection, row: Any) -> ProjectOut:
    configs = conn.execute(
        select(plugin_configs)
        .where(plugin_configs.c.project_id == row.id)
        .order_by(plugin_configs.c.id)
    ).all()
    return ProjectOut(
        project_id=row.id,
        project_name=row.name,
        project_path=row.path,
        render_os=row.render_os,
        remark=row.remark,
        create_time=row.created_at,
        plugins=[_config_record(c) for c in configs],
        **project_rights(row),  # read-only here: administrators set them (farm/rights.py)
        frame_timeout_s=row.frame_timeout_s,
        progress_timeout_s=row.progress_timeout_s,
    )


def _get_row(conn: Connection, account_id: int, name: str) -> Any:
    row = conn.execute(
        select(projects).where((projects.c.account_id == account_id) & (projects.c.name == name))
    ).first()
    if row is None:
        raise NotFound(f"no project named {name!r} in your account: create it first")
    return row


def _check_software(db: Database, cg_soft_name: str) -> None:
    software_key(cg_soft_name)  # validates the shape
    if not software_available(db, cg_soft_name):
        offer = (
            ", ".join(s.cg_soft_name for s in software_on_offer(db))
            or "none (no worker is connected)"
        )
        raise BadRequest(
            f"no worker of this farm offers {cg_soft_name!r}; software on offer: {offer}"
        )


def create_project(
    db: Database,
    account_id: int,
    name: str,
    path: str = "",
    remark: str = "",
    render_os: str = "linux",
    configs: list[PluginConfigIn] | None = None,
) -> ProjectOut:
    """Create a project, with optional plugin configs (the first becomes the default)."""
    if not _NAME.match(name or "") or name != name.strip():
        raise BadRequest(f"project name {name!r} is not allowed: 1-128 characters, no slashes")
    with db.read() as conn:
        for cfg in configs or []:
            require_allowed(conn, account_id, cfg.cg_soft_name)
    for cfg in configs or []:
        _check_software(db, cfg.cg_soft_name)
    with db.write() as conn:
        if conn.execute(
            select(projects.c.id).where(
                (projects.c.account_id == account_id) & (projects.c.name == name)
            )
        ).first():
            raise Conflict(f"project {name!r} already exists")
        pid = new_id(
            conn.execute(
                insert(projects).values(
                    account_id=account_id,
                    name=name,
                    path=path,
                    remark=remark,
                    render_os=render_os,
                    created_at=time.time(),
                )
            )
        )
        for i, cfg in enumerate(configs or []):
            _insert_config(conn, pid, cfg, default=cfg.is_default or i == 0)
        return _project_record(conn, _get_row(conn, account_id, name))


def _insert_config(conn: Connection, project_id: int, cfg: PluginConfigIn, default: bool) -> int:
    if default:
        conn.execute(
            update(plugin_configs)
            .where(plugin_configs.c.project_id == project_id)
            .values(is_default=False)
        )
    config_id: int = new_id(
        conn.execute(
            insert(plugin_configs).values(
                project_id=project_id,
                cg_soft_name=cfg.cg_soft_name.strip(),
                plugin_name=cfg.plugin_name,
                is_default=default,
            )
        )
    )
    return config_id


def list_projects(db: Database, account_id: int, name: str | None = None) -> list[ProjectOut]:
    """The account's projects (or the one named)."""
    with db.read() as conn:
        if name is not None:
            return [_project_record(conn, _get_row(conn, account_id, name))]
        rows = conn.execute(
            select(projects).where(projects.c.account_id == account_id).order_by(projects.c.id)
        ).all()
        return [_project_record(conn, r) for r in rows]


def modify_project(db: Database, account_id: int, name: str, change: ProjectChange) -> ProjectOut:
    """Change a project's name, path, remark or render OS (those given)."""
    changes = {
        column: value
        for column, value in (
            ("name", change.project_name),
            ("path", change.project_path),
            ("remark", change.remark),
            ("render_os", change.render_os),
        )
        if value is not None
    }
    with db.write() as conn:
        row = _get_row(conn, account_id, name)
        new_name = changes.get("name", name)
        if new_name != name:
            if not _NAME.match(new_name or ""):
                raise BadRequest(f"project name {new_name!r} is not allowed")
            if conn.execute(
                select(projects.c.id).where(
                    (projects.c.account_id == account_id) & (projects.c.name == new_name)
                )
            ).first():
                raise Conflict(f"project {new_name!r} already exists")
        if changes:
            conn.execute(update(projects).where(projects.c.id == row.id).values(**changes))
        return _project_record(conn, _get_row(conn, account_id, new_name))


def set_time_limits(
    db: Database,
    account_id: int,
    name: str,
    frame_timeout_s: int | None,
    progress_timeout_s: int | None,
) -> ProjectOut:
    """Set the default time limits of a project's tasks (None or 0 clears one); they apply to
    the frames claimed from now on of its tasks that have no limit of their own."""
    values = {
        "frame_timeout_s": limit_seconds("frame_timeout_s", frame_timeout_s),
        "progress_timeout_s": limit_seconds("progress_timeout_s", progress_timeout_s),
    }
    with db.write() as conn:
        row = _get_row(conn, account_id, name)
        conn.execute(update(projects).where(projects.c.id == row.id).values(**values))
        return _project_record(conn, _get_row(conn, account_id, name))


def delete_project(db: Database, account_id: int, name: str) -> None:
    """Delete a project and its configs (its tasks keep their snapshot)."""
    with db.write() as conn:
        row = _get_row(conn, account_id, name)
        conn.execute(delete(projects).where(projects.c.id == row.id))


def add_config(db: Database, account_id: int, name: str, cfg: PluginConfigIn) -> ProjectOut:
    """Add a plugin config to a project (the first one, or one marked default, is the default)."""
    _check_software(db, cfg.cg_soft_name)
    with db.write() as conn:
        row = _get_row(conn, account_id, name)
        require_allowed(conn, account_id, cfg.cg_soft_name)
        has_any = conn.execute(
            select(plugin_configs.c.id).where(plugin_configs.c.project_id == row.id)
        ).first()
        _insert_config(conn, row.id, cfg, default=cfg.is_default or has_any is None)
        return _project_record(conn, row)


def _get_config(conn: Connection, project_id: int, config_id: int) -> Any:
    cfg = conn.execute(
        select(plugin_configs).where(
            (plugin_configs.c.id == config_id) & (plugin_configs.c.project_id == project_id)
        )
    ).first()
    if cfg is None:
        raise NotFound(f"no plugin config {config_id} in this project")
    return cfg


def modify_config(
    db: Database, account_id: int, name: str, config_id: int, change: PluginConfigChange
) -> ProjectOut:
    """Change a config's software, plugins, or make it the default."""
    if change.cg_soft_name is not None:
        _check_software(db, change.cg_soft_name)
    with db.write() as conn:
        row = _get_row(conn, account_id, name)
        cfg = _get_config(conn, row.id, config_id)
        require_allowed(conn, account_id, change.cg_soft_name or cfg.cg_soft_name)
        values: dict[str, str | bool] = change.model_dump(
            include={"cg_soft_name", "plugin_name"}, exclude_none=True
        )
        if change.is_default:
            conn.execute(
                update(plugin_configs)
                .where(plugin_configs.c.project_id == row.id)
                .values(is_default=False)
            )
            values["is_default"] = True
        if values:
            conn.execute(
                update(plugin_configs).where(plugin_configs.c.id == config_id).values(**values)
            )
        return _project_record(conn, row)


def delete_config(db: Database, account_id: int, name: str, config_id: int) -> ProjectOut:
    """Remove a config; if it was the default, the oldest remaining one becomes the default."""
    with db.write() as conn:
        row = _get_row(conn, account_id, name)
        cfg = _get_config(conn, row.id, config_id)
        conn.execute(delete(plugin_configs).where(plugin_configs.c.id == config_id))
        if cfg.is_default:
            first = conn.execute(
                select(plugin_configs.c.id)
                .where(plugin_configs.c.project_id == row.id)
                .order_by(plugin_configs.c.id)
                .limit(1)
            ).scalar()
            if first is not None:
                conn.execute(
                    update(plugin_configs)
                    .where(plugin_configs.c.id == first)
                    .values(is_default=True)
                )
        return _project_record(conn, row)


def config_for_submit(
    conn: Connection, account_id: int, name: str, config_id: int | None
) -> tuple[Any, Any]:
    """The project and the plugin config a submission uses (the default unless one is named)."""
    row = _get_row(conn, account_id, name)
    if config_id is not None:
        return row, _get_config(conn, row.id, config_id)
    cfg = conn.execute(
        select(plugin_configs)
        .where(plugin_configs.c.project_id == row.id)
        .order_by(plugin_configs.c.is_default.desc(), plugin_configs.c.id)
        .limit(1)
    ).first()
    if cfg is None:
        raise BadRequest(
            f"project {name!r} has no plugin config: add one (software such as 'blender 3.4') "
            "on the web site or with add_project_config() before submitting"
        )
    return row, cfg
