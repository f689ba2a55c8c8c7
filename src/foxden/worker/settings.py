"""A worker's settings: one object, built from the command line and the environment."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from pydantic import BaseModel, Field, field_validator

from foxden.wire.worker import MAX_CLAIM_WAIT
from foxden.worker.machine import cores, memory_mb
from foxden.worker.sandbox import Limits

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
DEFAULT_MAX_FILE_SIZE = 64 << 30
DEFAULT_MAX_PROCESSES = 4096  # threads count too: Blender runs a few per core
DEFAULT_MAX_TMP = 4 << 30


def parse_size(text: str | int) -> int:
    """Bytes from '1000', '512M', '20G', '1.5TiB'."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size such as 1000000, 512M or 20G")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


class WorkerSettings(BaseModel):
    """Everything `foxden worker` can be told (CLI > environment: FOXDEN_SERVER,
    FOXDEN_JOIN_KEY, FOXDEN_CA_CERT)."""

    server: str
    join_key: str = Field(min_length=1)
    slots: int = Field(default=1, ge=1, le=64)
    cache_dir: Path
    cache_size: int = Field(default=20 << 30, ge=0)
    tags: list[str] = []
    name: str = Field(default_factory=socket.gethostname, min_length=1, max_length=128)
    blender: Path | None = None
    maya: Path | None = None  # Maya's Render, or a Maya install folder (default: on PATH)
    poll_seconds: float = Field(default=2.0, gt=0)
    # seconds the server may hold an idle claim open (long poll; 0: poll every poll_seconds)
    claim_wait: float = Field(default=20.0, ge=0, le=MAX_CLAIM_WAIT)
    exit_with_parent: bool = False
    ca_cert: Path | None = None  # trust this CA bundle or farm certificate over HTTPS
    # The renderer's sandbox (see foxden.worker.sandbox); False only on trusted single-user farms.
    sandbox: bool = True
    bwrap: str = Field(default="bwrap", min_length=1)
    sandbox_uid: int = Field(default=65534, ge=1, lt=1 << 32)  # host uid of a root worker's sandbox
    # Limits per renderer process (0: none). Defaults: the machine's memory, a day of every core.
    max_memory: int = Field(default_factory=lambda: memory_mb() << 20, ge=0)
    max_cpu_seconds: int = Field(default_factory=lambda: cores() * 86400, ge=0)
    max_file_size: int = Field(default=DEFAULT_MAX_FILE_SIZE, ge=0)
    max_processes: int = Field(default=DEFAULT_MAX_PROCESSES, ge=0)
    max_tmp: int = Field(default=DEFAULT_MAX_TMP, ge=0)

    def configured_software(self) -> dict[str, str]:
        """The executables given for job types (job type name -> path); the others are
        looked for on PATH."""
        given = {"blender": self.blender, "maya": self.maya}
        return {name: str(path) for name, path in given.items() if path is not None}

    def limits(self) -> Limits:
        """The resource limits of each renderer process."""
        return Limits(
            memory=self.max_memory,
            cpu_seconds=self.max_cpu_seconds,
            file_size=self.max_file_size,
            processes=self.max_processes,
            tmp_size=self.max_tmp,
        )

    @field_validator("cache_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("server")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"server {value!r} must be an http:// or https:// URL")
        return value.rstrip("/")
