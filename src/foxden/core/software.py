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
