"""The SDK's software calls (what the farm's workers can render) and its render environments
(the account's saved software + plugin choices, the `render_envs` table)."""

from __future__ import annotations

import re
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from foxden.core.software import CG_SOFTWARE, cg_id_of
from foxden.core.states import WorkerState
from foxden.db.schema import render_envs
from foxden.errors import BadRequest, Conflict, NotFound, quote
from foxden.farm.workers import list_workers
from foxden.server.context import Farm
from foxden.server.rayvision.calls import Call, handles, ids, integer, text

#: render environments one account may keep.
MAX_ENVS = 100
#: plugins one render environment may name.
MAX_PLUGINS = 100
#: worker states that offer nothing.
NOT_WORKING = (WorkerState.OFFLINE, WorkerState.REVOKED, WorkerState.GONE)
#: the SDK's `renderSystem` / `osName` numbers.
OS_NAMES = {0: "linux", 1: "windows"}


def stable_id(*parts: object) -> int:
    """A positive 31-bit id that stays the same for the same parts (no table needed)."""
    return zlib.crc32(" ".join(str(p) for p in parts).encode()) & 0x7FFFFFFF or 1


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in re.split(r"[.\-_]", version))


@dataclass
class Offer:
    """What the farm's workers offer of one software: versions and plugins (reported text)."""

    cg_id: int
    versions: set[str] = field(default_factory=set)
    plugins: dict[str, set[str]] = field(default_factory=dict)  # version -> plugins

    @property
    def name(self) -> str:
        return CG_SOFTWARE[self.cg_id][1]

    def listed_versions(self) -> list[str]:
        """Every version a task may name: as reported ('3.4.1') and as major.minor ('3.4')."""
        listed: set[str] = set()
        for version in self.versions:
            listed.add(version)
            parts = version.split(".")
            if len(parts) > 2:
                listed.add(".".join(parts[:2]))
        return sorted(listed, key=_version_key)

    def plugins_of(self, listed: str) -> set[str]:
        """The plugins of a listed version (a major.minor one has those of its releases)."""
        found: set[str] = set()
        for version, plugins in self.plugins.items():
            if version == listed or version.startswith(listed + "."):
                found |= plugins
        return found

    def plugin_ids(self) -> dict[int, str]:
        """Every plugin of this software by its id."""
        return {stable_id(self.cg_id, p): p for plugins in self.plugins.values() for p in plugins}


def offers(farm: Farm) -> dict[int, Offer]:
    """The software with an SDK id that approved workers seen lately report, by `cgId`."""
    found: dict[int, Offer] = {}
    for worker in list_workers(farm.db):
        if not worker.approved or worker.status in NOT_WORKING:
            continue
        for soft in worker.software:
            cg_id = cg_id_of(soft.name)
            version = soft.version.strip()
            if cg_id is None or not version:
                continue
            offer = found.setdefault(cg_id, Offer(cg_id))
            offer.versions.add(version)
            offer.plugins.setdefault(version, set()).update(p for p in soft.plugins if p)
    return found


def _plugin_parts(plugin: str) -> tuple[str, str]:
    """'redshift 3.5' -> ('redshift', 'redshift 3.5'): the SDK's pluginName and pluginVersion."""
    return plugin.split()[0] if plugin.split() else plugin, plugin


@handles("/api/render/plugin/querySoftwareList")
def query_software_list(call: Call) -> dict[str, Any]:
    """The software some worker offers now, in the SDK's shape."""
    found = offers(call.farm)
    listed = [
        {
            "cgId": cg_id,
            "cgName": CG_SOFTWARE[cg_id][1],
            "cgType": CG_SOFTWARE[cg_id][2],
            "iconPath": "",
            "isNeedProjectPath": 0,
            "isNeedAnalyse": 1,
            "isSupportLinux": 1,
        }
        for cg_id in sorted(found)
    ]
    default = 2007 if 2007 in found else (listed[0]["cgId"] if listed else None)
    return {"isAutoCommit": 2, "renderInfoList": listed, "defaultCgId": default}


def _cg_id(body: dict[str, Any], name: str = "cgId") -> int:
    cg_id = integer(body, name, low=1)
    if cg_id not in CG_SOFTWARE:
        raise BadRequest(
            f"{name} {cg_id} is not software foxden knows; known ids: "
            + ", ".join(f"{i} ({CG_SOFTWARE[i][1]})" for i in sorted(CG_SOFTWARE))
        )
    return cg_id


def _os_name(body: dict[str, Any]) -> str:
    os_name = text(body, "osName", "linux", limit=16).lower()
    if os_name not in OS_NAMES.values():
        raise BadRequest(f"osName must be 'windows' or 'linux', not {quote(os_name)}")
    return os_name


@handles("/api/render/plugin/querySoftwareDetail")
def query_software_detail(call: Call) -> dict[str, Any]:
    """The versions (and their plugins) of one software that workers offer now.

    The SDK's check refuses a task whose `cg_version` is not listed, so each version is listed
    as reported and as major.minor ('3.4.1' and '3.4'). Workers render on their own system
    whatever `osName` the caller has, so it is checked but does not narrow the list.
    """
    cg_id = _cg_id(call.body)
    _os_name(call.body)
    offer = offers(call.farm).get(cg_id, Offer(cg_id))
    versions = []
    plugins: list[dict[str, Any]] = []
    for version in offer.listed_versions():
        version_id = stable_id(cg_id, version)
        versions.append(
            {"id": version_id, "cgId": cg_id, "cgName": offer.name, "cgVersion": version}
        )
        by_name: dict[str, list[dict[str, Any]]] = {}
        for plugin in sorted(offer.plugins_of(version)):
            name, full = _plugin_parts(plugin)
            by_name.setdefault(name, []).append(
                {"pluginId": stable_id(cg_id, plugin), "pluginName": name, "pluginVersion": full}
            )
        plugins.extend(
            {"cvId": version_id, "pluginName": name, "pluginVersions": entries}
            for name, entries in sorted(by_name.items())
        )
    return {"cgVersion": versions, "cgPlugin": plugins}


# --- render environments ---------------------------------------------------------------------


def _edit_name(body: dict[str, Any]) -> str:
    name = text(body, "editName", limit=128).strip()
    if not name:
        raise BadRequest("editName must not be empty: name the render environment")
    return name


def _env_values(call: Call) -> dict[str, Any]:
    """The columns of a render environment from an add or edit call (400 for bad fields)."""
    body = call.body
    cg_id = _cg_id(body)
    cg_version = text(body, "cgVersion", limit=64).strip()
    if not cg_version:
        raise BadRequest("cgVersion must not be empty: give the software's version, e.g. '3.4'")
    if not isinstance(body.get("pluginIds"), list):
        raise BadRequest("pluginIds is required: a list of plugin ids ([] for none)")
    plugin_ids = ids(body, "pluginIds", required=False, limit=MAX_PLUGINS)
    if plugin_ids:
        known = offers(call.farm).get(cg_id, Offer(cg_id)).plugin_ids()
        unknown = [i for i in plugin_ids if i not in known]
        if unknown:
            raise BadRequest(
                f"pluginIds {unknown[:10]} are not plugins of {CG_SOFTWARE[cg_id][1]} that a "
                "worker offers now: see querySoftwareDetail's cgPlugin"
            )
    render_system = integer(body, "renderSystem", low=0, high=1)
    return {
        "cg_id": cg_id,
        "cg_name": text(body, "cgName", CG_SOFTWARE[cg_id][1], limit=64).strip(),
        "cg_version": cg_version,
        "render_layer_type": integer(body, "renderLayerType", 0, low=0, high=9),
        "render_system": render_system,
        "plugin_ids": sorted(set(plugin_ids)),
        "project_path": text(body, "projectPath", "", limit=1024),
    }


def _env_row(conn: Connection, account_id: int, edit_name: str) -> Any:
    row = conn.execute(
        select(render_envs).where(
            (render_envs.c.account_id == account_id) & (render_envs.c.edit_name == edit_name)
        )
    ).first()
    if row is None:
        raise NotFound(
            f"no render environment named {quote(edit_name)} in your account: "
            "see getUserPluginConfig for yours"
        )
    return row


def _make_default(conn: Connection, account_id: int, cg_id: int, env_id: int) -> None:
    """Make one environment the default of its software (the others of it stop being)."""
    conn.execute(
        update(render_envs)
        .where((render_envs.c.account_id == account_id) & (render_envs.c.cg_id == cg_id))
        .values(is_default=render_envs.c.id == env_id)
    )


def _ensure_default(conn: Connection, account_id: int, cg_id: int) -> None:
    """If none of the account's environments of `cg_id` is the default, the oldest becomes it."""
    mine = (render_envs.c.account_id == account_id) & (render_envs.c.cg_id == cg_id)
    if conn.execute(select(render_envs.c.id).where(mine & render_envs.c.is_default)).first():
        return
    oldest = conn.execute(
        select(render_envs.c.id).where(mine).order_by(render_envs.c.id).limit(1)
    ).scalar()
    if oldest is not None:
        _make_default(conn, account_id, cg_id, oldest)


@handles("/api/render/plugin/addUserPluginConfig")
def add_render_env(call: Call) -> dict[str, Any]:
    """Save a render environment; the first one of a software becomes its default."""
    name = _edit_name(call.body)
    values = _env_values(call)
    account_id = call.account.id
    with call.farm.db.write() as conn:
        mine = render_envs.c.account_id == account_id
        if conn.execute(
            select(render_envs.c.id).where(mine & (render_envs.c.edit_name == name))
        ).first():
            raise Conflict(
                f"a render environment named {quote(name)} exists already: edit it with "
                "editUserPluginConfig or choose another editName"
            )
        count = conn.execute(select(func.count()).select_from(render_envs).where(mine)).scalar()
        if (count or 0) >= MAX_ENVS:
            raise Conflict(
                f"your account has {MAX_ENVS} render environments, the most it may keep: "
                "delete one first"
            )
        conn.execute(
            insert(render_envs).values(
                account_id=account_id,
                edit_name=name,
                is_default=False,
                created_at=time.time(),
                **values,
            )
        )
        _ensure_default(conn, account_id, values["cg_id"])
    return {"editName": name}


@handles("/api/render/plugin/editUserPluginConfig")
def edit_render_env(call: Call) -> dict[str, Any]:
    """Change a saved render environment (found by its editName)."""
    name = _edit_name(call.body)
    values = _env_values(call)
    account_id = call.account.id
    with call.farm.db.write() as conn:
        row = _env_row(conn, account_id, name)
        conn.execute(update(render_envs).where(render_envs.c.id == row.id).values(**values))
        if values["cg_id"] != row.cg_id:
            # it moved to another software: it cannot stay the default of the old one
            conn.execute(
                update(render_envs).where(render_envs.c.id == row.id).values(is_default=False)
            )
            _ensure_default(conn, account_id, row.cg_id)
            _ensure_default(conn, account_id, values["cg_id"])
    return {"editName": name}


@handles("/api/render/plugin/deleteUserPluginConfig")
def delete_render_env(call: Call) -> None:
    """Delete a render environment; if it was the default, the oldest other one takes over."""
    name = _edit_name(call.body)
    with call.farm.db.write() as conn:
        row = _env_row(conn, call.account.id, name)
        conn.execute(delete(render_envs).where(render_envs.c.id == row.id))
        _ensure_default(conn, call.account.id, row.cg_id)


@handles("/api/render/plugin/setDefaultUserPluginConfig")
def set_default_render_env(call: Call) -> None:
    """Make a render environment the default of its software."""
    name = _edit_name(call.body)
    with call.farm.db.write() as conn:
        row = _env_row(conn, call.account.id, name)
        _make_default(conn, call.account.id, row.cg_id, row.id)


@handles("/api/render/plugin/getUserPluginConfig")
def get_render_envs(call: Call) -> list[dict[str, Any]]:
    """The account's render environments, optionally of some software (`cgId`, `cgIds`) and of
    one system (`osName` 0 Linux, 1 Windows)."""
    body = call.body
    wanted = set(ids(body, "cgIds", required=False, limit=len(CG_SOFTWARE) * 2))
    if body.get("cgId") not in (None, ""):
        wanted.add(integer(body, "cgId", low=1))
    where = render_envs.c.account_id == call.account.id
    if wanted:
        where &= render_envs.c.cg_id.in_(sorted(wanted))
    if body.get("osName") not in (None, ""):
        where &= render_envs.c.render_system == integer(body, "osName", low=0, high=1)
    with call.farm.db.read() as conn:
        rows = conn.execute(select(render_envs).where(where).order_by(render_envs.c.id)).all()
    found = offers(call.farm) if rows else {}
    out = []
    for row in rows:
        names = found.get(row.cg_id, Offer(row.cg_id)).plugin_ids()
        plugins = []
        for plugin_id in row.plugin_ids or []:
            # a plugin no worker offers now keeps its id; its name is unknown until one does
            name, full = _plugin_parts(names.get(plugin_id, ""))
            plugins.append({"pluginId": plugin_id, "pluginName": name, "pluginVersion": full})
        out.append(
            {
                "cgId": row.cg_id,
                "editName": row.edit_name,
                "cgName": row.cg_name,
                "cgVersion": row.cg_version,
                "osName": row.render_system,
                "renderLayerType": row.render_layer_type,
                "projectPath": row.project_path,
                "isDefault": 1 if row.is_default else 0,
                "respUserPluginInfoVos": plugins,
            }
        )
    return out
