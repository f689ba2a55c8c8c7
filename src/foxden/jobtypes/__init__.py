"""Job types: the parts of foxden that know render software (see docs/jobtypes.md)."""

from __future__ import annotations

from foxden.jobtypes.base import (
    Analysis,
    ChunkSpec,
    Command,
    JobType,
    MarkerParser,
    ProgressEvent,
    ProgressParser,
    Software,
    check_image,
)
from foxden.jobtypes.registry import (
    detect_software,
    get_job_type,
    job_type_for_software,
    job_types,
    register,
    software_requirement,
)

__all__ = [
    "Analysis",
    "ChunkSpec",
    "Command",
    "JobType",
    "MarkerParser",
    "ProgressEvent",
    "ProgressParser",
    "Software",
    "check_image",
    "detect_software",
    "get_job_type",
    "job_type_for_software",
    "job_types",
    "register",
    "software_requirement",
]
