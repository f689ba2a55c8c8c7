"""The job types foxden knows, by name: the built-in ones (`blender`, `command`, `ffmpeg`,
`maya`) are registered on first use, others with `register`; and the matching of a task's
software name to one of them.
"""

from __future__ import annotations

import re

from foxden.errors import BadRequest
from foxden.jobtypes.base import JobType, Software

_REGISTRY: dict[str, JobType] = {}
_SOFTWARE_NAME = re.compile(r"^\s*([A-Za-z][A-Za-z_]*?)[\s_-]*(\d[\w.]*)?\s*$")


def register(job_type: JobType) -> None:
    """Make `job_type` known by its name (a later one with the same name replaces it)."""
    _REGISTRY[job_type.name] = job_type


def _load_builtins() -> None:
    """Register the built-in job types, unless some job type is registered already."""
    if not _REGISTRY:
        from foxden.jobtypes.blender import BlenderJobType
        from foxden.jobtypes.command import CommandJobType
        from foxden.jobtypes.ffmpeg import FfmpegJobType
        from foxden.jobtypes.maya import MayaJobType

        register(BlenderJobType())
        register(CommandJobType())
        register(FfmpegJobType())
        register(MayaJobType())


def job_types() -> list[JobType]:
    """Every known job type."""
    _load_builtins()
    return list(_REGISTRY.values())


def get_job_type(name: str) -> JobType:
    """The job type called `name` (any case); 400 naming the known ones otherwise."""
    _load_builtins()
    try:
        return _REGISTRY[name.strip().lower()]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise BadRequest(f"unknown job type {name!r}: known job types are {known}") from None


def software_requirement(cg_soft_name: str) -> tuple[str, str | None]:
    """Split a vendor software name: "Blender 3.4" -> ("blender", "3.4"), "command" ->
    ("command", None)."""
    match = _SOFTWARE_NAME.match(cg_soft_name or "")
    if not match:
        raise BadRequest(
            f"software {cg_soft_name!r} is not a name with an optional version, "
            "such as 'blender 3.4'"
        )
    return match.group(1).lower(), match.group(2)


def job_type_for_software(cg_soft_name: str) -> JobType:
    """The job type that renders with the named software ("blender 3.4", "Blender", ...)."""
    return get_job_type(software_requirement(cg_soft_name)[0])


def detect_software(configured: dict[str, str] | None = None) -> list[Software]:
    """All render software on this machine; `configured` maps job type names to executables."""
    found: list[Software] = []
    for job_type in job_types():
        found.extend(job_type.detect((configured or {}).get(job_type.name)))
    return found
