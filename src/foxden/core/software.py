"""Naming of render software: what workers offer and what a plugin config asks for."""

from __future__ import annotations

import re

from foxden.errors import BadRequest

_SOFT = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_+-]*)\s*(?:[ _-]?v?(\d+(?:\.\d+)*))?\s*$")


def split_soft_name(cg_soft_name: str) -> tuple[str, str]:
    """'Blender 3.4' -> ('blender', '3.4'); 'command' -> ('command', '')."""
    match = _SOFT.match(cg_soft_name or "")
    if not match:
        raise BadRequest(
            f"cg_soft_name {cg_soft_name!r} is not software name and version such as 'blender 3.4'"
        )
    return match.group(1).lower(), match.group(2) or ""


def software_key(cg_soft_name: str) -> str:
    """The key a task is matched on: 'blender 3.4'."""
    name, version = split_soft_name(cg_soft_name)
    return f"{name} {version}".strip()


def offered_keys(name: str, version: str) -> list[str]:
    """Every key a worker with `name` `version` can serve: 'blender', 'blender 3', 'blender 3.4', ..."""
    base = name.lower()
    keys = [base]
    parts = [p for p in version.split(".") if p]
    for i in range(1, len(parts) + 1):
        keys.append(f"{base} {'.'.join(parts[:i])}")
    return keys


def display_name(name: str, version: str) -> str:
    """'blender', '3.4.1' -> 'blender 3.4' (major.minor, as configs name software)."""
    parts = [p for p in version.split(".") if p][:2]
    return f"{name.lower()} {'.'.join(parts)}".strip()


# The vendor SDK's software ids (`cgId`): id -> the name a worker reports (compared without
# case, spaces or punctuation), the name shown to the SDK, and the scene file types.
CG_SOFTWARE: dict[int, tuple[str, str, str]] = {
    2000: ("maya", "Maya", "ma;mb"),
    2001: ("3dsmax", "3ds Max", "max"),
    2002: ("lightwave", "LightWave", "lws"),
    2003: ("arnold", "Arnold", "ass"),
    2004: ("houdini", "Houdini", "hip;hipnc;hiplc"),
    2005: ("cinema4d", "Cinema 4D", "c4d"),
    2006: ("softimage", "Softimage", "scn"),
    2007: ("blender", "Blender", "blend"),
    2008: ("vrstandalone", "V-Ray Standalone", "vrscene"),
    2009: ("mrstandalone", "mental ray Standalone", "mi"),
    2010: ("sketchup", "SketchUp", "skp"),
    2011: ("vue", "Vue", "vue"),
    2012: ("keyshot", "KeyShot", "bip"),
    2013: ("clarisse", "Clarisse", "project"),
    2014: ("octanerender", "Octane Render", "ocs;orbx"),
    2015: ("nuke", "Nuke", "nk"),
    2016: ("katana", "Katana", "katana"),
    2020: ("unrealengine", "Unreal Engine", "uproject"),
}


def _squeezed(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_CG_BY_NAME = {_squeezed(soft): cg_id for cg_id, (soft, _, _) in CG_SOFTWARE.items()}


def cg_id_of(name: str) -> int | None:
    """The SDK's `cgId` of software a worker reports ('blender' -> 2007; '3ds Max' -> 2001),
    or None for software the SDK has no id for (foxden's own 'command')."""
    return _CG_BY_NAME.get(_squeezed(name))
