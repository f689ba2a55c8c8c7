"""Typed request bodies of the HTTP API (they make the OpenAPI document)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Numbers as the database stores them: out of range is a 422, never an overflow (a 500).
MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1
Int32 = Annotated[int, Field(ge=-(2**31), le=MAX_INT32)]
Count = Annotated[int, Field(ge=0, le=MAX_INT32)]
Size = Annotated[int, Field(ge=0, le=MAX_INT64)]
RowId = Annotated[int, Field(ge=-(2**31), le=MAX_INT32)]  # ids are 32-bit on PostgreSQL
Finite = Annotated[float, Field(allow_inf_nan=False)]
Digest = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", examples=["e3b0c442" + "0" * 56])]


def refuse_non_finite(value: Any, where: str = "") -> None:
    """Raise ValueError if `value` holds NaN or an infinity anywhere (JSON lets Python read
    them; the databases cannot store them in JSON columns)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where or 'a number'} must be a finite number, not {value}")
    if isinstance(value, dict):
        for k, v in value.items():
            refuse_non_finite(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            refuse_non_finite(v, f"{where}[{i}]")


class AccountCreate(BaseModel):
    """A new account (admins only)."""

    name: str
    admin: bool = False
    email: str = ""


class AccountChange(BaseModel):
    """Enable or disable an account."""

    disabled: bool


class AccountTrust(BaseModel):
    """Trust an account with privileged job types (`command`), or take that back."""

    trusted: bool


class ProjectRights(BaseModel):
    """A project's sandbox rights (administrators only); a right left out stays as it is."""

    allow_network: bool | None = None
    allow_scripts: bool | None = None


class PluginConfigIn(BaseModel):
    """Software and plugins a project renders with."""

    cg_soft_name: str = Field(examples=["blender 3.4"])
    plugin_name: str = ""
    is_default: bool = False


class PluginConfigChange(BaseModel):
    """Changes to a plugin config."""

    cg_soft_name: str | None = None
    plugin_name: str | None = None
    is_default: bool | None = None


class ProjectIn(BaseModel):
    """A new project."""

    project_name: str
    project_path: str = ""
    remark: str = ""
    render_os: str = "linux"
    plugins: list[PluginConfigIn] = []


class ProjectChange(BaseModel):
    """Changes to a project."""

    project_name: str | None = None
    project_path: str | None = None
    remark: str | None = None
    render_os: str | None = None


class FileEntry(BaseModel):
    """One file of an upload manifest: its client path, size, SHA-256 and mtime."""

    path: str
    size: Size
    hash: str
    mtime: Finite = 0.0


class Manifest(BaseModel):
    """An upload manifest."""

    files: list[FileEntry]


class BlobBatch(BaseModel):
    """Blobs to read in one request, in the order their bytes are to come back."""

    hashes: list[str]


class TaskIn(BaseModel):
    """A task submission; unknown keys are kept as task options (the vendor passed them on)."""

    model_config = ConfigDict(extra="allow")

    project_name: str
    input_scene_path: str
    frames: str = Field(examples=["1-10[1]", "1,20-30[2],494"])
    render_layer: str = ""
    camera: str = ""
    artist: str = ""
    priority: Int32 = 0
    chunk_size: Int32 | None = None
    max_attempts: Int32 | None = None
    config_id: RowId | None = None
    options: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _finite(cls, data: Any) -> Any:
        refuse_non_finite(data)
        return data


class RestartIn(BaseModel):
    """Which frames to restart: by kind, or the frames named (a frame spec or a list)."""

    restart: Literal["failed", "aborted", "done", "running", "waiting", "stopped", "all"] = "failed"
    frames: str | list[Int32] | None = None


class SoftwareEntry(BaseModel):
    """Software a worker can run."""

    name: str
    version: str = ""
    plugins: list[str] = []


class WorkerRegister(BaseModel):
    """A worker's capabilities."""

    name: str
    software: list[SoftwareEntry] = []
    cores: Count = 1
    memory_mb: Count = 0
    gpus: list[str] = []
    tags: list[str] = []
    slots: Count = 1
    sandboxed: bool = True  # false: started with --no-sandbox (trusted single-user farms only)


class ClaimIn(BaseModel):
    """A request for work."""

    max_frames: int | None = Field(default=None, ge=1, le=MAX_INT32)


class HeartbeatIn(BaseModel):
    """Progress (0..1 per frame number) and new log text per frame number."""

    progress: dict[Int32, Finite] = {}  # the server keeps it within 0..1
    logs: dict[Int32, str] = {}


class OutputFile(BaseModel):
    """One output of a frame, already uploaded as a blob."""

    name: str = Field(min_length=1, max_length=1024)
    hash: Digest
    size: Size
    thumbnail: Digest | None = None


class FrameResult(BaseModel):
    """The outcome of one frame."""

    frame: Int32
    status: Literal["done", "failed"]
    render_time: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    error: str = ""
    log: str = ""
    outputs: list[OutputFile] = []


class ReportIn(BaseModel):
    """Outcomes of frames of a lease."""

    results: list[FrameResult]
