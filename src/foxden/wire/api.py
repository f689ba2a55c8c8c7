"""The account API's shapes (`/api/...` for access keys and web sessions): its replies, one
model each, and the request bodies that the farm's services take as they are.

The farm's services build them, the server declares its routes with them (so docs/openapi.json
says what each returns) and the typed client reads its replies into them
(`foxden.client.records`). The server always sends every field and a reply model has no
defaults (but a task's `frames_detail`, there only when asked for), so a reply that lacks one
fails to validate, on the server as in the client. The other request bodies are in
`foxden.server.api.models`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from foxden.wire.fields import Finite, Record, Size
from foxden.wire.worker import SoftwareEntry

# -- what a client sends (validated by the server, taken by the farm's services) -----------------


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


# -- what the server replies ----------------------------------------------------------------------


class AccountOut(Record):
    """An account: the caller (`GET /api/me`) or one of the farm's (administrators)."""

    id: int
    name: str
    is_admin: bool
    disabled: bool
    trusted: bool  # may use privileged job types (`command`): an administrator's decision
    email: str
    created_at: float | None
    login_at: float | None


class AccessKeyOut(Record):
    """A new access key, shown in this reply and never again."""

    account: str
    access_key: str


class SdkKeyOut(Record):
    """The vendor SDK's credential of an account: `RayvisionAPI(access_id=..., access_key=...)`.
    The key is shown in this reply and never again; a new one replaces the old at once."""

    account: str
    access_id: str
    access_key: str


class AccountCreatedOut(AccessKeyOut):
    """A new account and its access key."""

    record: AccountOut


class TrustOut(AccountOut):
    """An account after trusting or untrusting it, with the command tasks that were stopped."""

    stopped_tasks: list[int]


class ProjectRightsOut(Record):
    """A project's sandbox rights, set by administrators."""

    account: str
    project_name: str
    allow_network: bool
    allow_scripts: bool


class SoftwareOut(Record):
    """Software (and its plugins) that the farm's workers can run: a plugin-config choice."""

    cg_soft_name: str
    plugins: list[str]


class CurrentWork(Record):
    """Frames a worker renders now for one task."""

    task_id: int
    frames: int


class WorkerOut(Record):
    """A render node as administrators see it."""

    id: int
    name: str
    status: str
    software: list[SoftwareEntry]
    cores: int
    memory_mb: int
    gpus: list[str]
    tags: list[str]
    slots: int
    registered_at: float
    last_seen: float
    current_work: list[CurrentWork]
    sandboxed: bool
    approved: bool
    #: what an administrator wants of it: active, draining (no new work) or disabled
    admin_state: str = "active"
    frames_done: int = 0  # frames now done whose last attempt ran on it
    frames_failed: int = 0  # frames now failed whose last attempt ran on it
    #: failed reports in a row (a frame done resets it); flagged for administrators at a limit
    failure_streak: int = 0
    flagged: bool = False


class WorkerRevokedOut(Record):
    """A revoked worker and the frames that went back to the queue."""

    worker_id: int
    status: str
    released: int


class WorkerApprovedOut(Record):
    """An approved worker."""

    worker_id: int
    approved: bool


class WorkerAdminStateOut(Record):
    """A worker an administrator drained, disabled or put back to work."""

    worker_id: int
    admin_state: str
    released: int  # its running frames that went back to the queue (disabling only)


class PluginConfigOut(Record):
    """Software and plugins a project renders with."""

    config_id: int
    cg_soft_name: str
    plugin_name: str
    is_default: bool


class ProjectOut(Record):
    """A project and its plugin configs."""

    project_id: int
    project_name: str
    project_path: str
    render_os: str
    remark: str
    create_time: float | None
    plugins: list[PluginConfigOut]
    allow_network: bool  # sandbox rights, set by administrators only
    allow_scripts: bool
    # default time limits of the project's tasks, seconds (None: none; farm/time_limits.py)
    frame_timeout_s: int | None = None
    progress_timeout_s: int | None = None


class FileOut(Record):
    """A file of the account's tree."""

    path: str
    hash: str
    size: int
    mtime: float
    updated_at: float


class ManifestCheckOut(Record):
    """A manifest check: the hashes to send, the files recorded now and those still pending."""

    missing: list[str]
    recorded: list[str]
    pending: list[str]


class CommitOut(Record):
    """Files recorded after their content was uploaded."""

    recorded: list[str]


class UploadStatusOut(Record):
    """How much of a blob arrived: continue an upload from `offset`."""

    hash: str
    offset: int
    complete: bool


class RefusedBlob(Record):
    """A blob of an upload batch that was not stored, and why (send it again)."""

    hash: str
    reason: str


class BatchUploadOut(Record):
    """The blobs of an upload batch stored and refused."""

    stored: list[str]
    refused: list[RefusedBlob]


class FrameOutput(Record):
    """One file a frame produced (path under the task's output folder)."""

    path: str
    hash: str
    size: int
    thumb_hash: str | None


class FrameOut(Record):
    """One frame of a task."""

    id: int
    number: int
    status: str
    attempts: int
    progress: float
    worker_id: int | None
    start_time: float | None
    end_time: float | None
    render_time: float | None
    error: str
    outputs: list[FrameOutput]
    #: why its last attempt failed (`foxden.core.failures.Category`), '' when it did not
    failure_category: str = ""
    advice: str = ""  # one sentence: what to do about that failure


class TaskOut(Record):
    """A task; `frames_detail` is there only when the frames were asked for."""

    id: int
    project_name: str
    status: str
    frames: str
    frame_count: int
    counts: dict[str, int]
    progress: float
    cg_soft_name: str
    plugin_name: str
    job_type: str
    scene_path: str
    render_layer: str
    camera: str
    artist: str
    options: dict[str, Any]
    warnings: list[str]
    priority: int
    chunk_size: int
    max_attempts: int
    output_folder: str
    submit_account: str
    submit_time: float | None
    start_time: float | None
    completed_time: float | None
    #: "2 of 24 frames failed: camera 'CamC' not found ...", '' when no frame failed
    failure_summary: str = ""
    #: why the task waits although it is queued (a task it depends on failed); '' when it does not
    blocked_reason: str = ""
    #: seconds until its frames are all rendered, from its done frames' times
    #: (`foxden.farm.estimates`); None when unknown or when the task is not queued or rendering
    eta_seconds: float | None = None
    #: core-hours of all its frames: its done frames' core time, extrapolated; None when unknown
    core_hours: float | None = None
    #: its own time limits, seconds (None: its project's default, else its account's, apply)
    frame_timeout_s: int | None = None
    progress_timeout_s: int | None = None
    #: the target duration of a chunk (`chunk_seconds` at submit); None: `chunk_size` frames
    chunk_seconds: float | None = None
    frames_detail: list[FrameOut] | None = Field(default=None, exclude_if=lambda v: v is None)
    #: the signing secret of the webhook given at submit: in the submit reply only, shown once
    webhook_secret: str | None = Field(default=None, exclude_if=lambda v: v is None)


class TaskDeletedOut(Record):
    """A deleted task."""

    id: int
    deleted: Literal[True]


class TaskConfigOut(Record):
    """A config file of a task, stored (`PUT /api/tasks/{task_id}/configs/{name}`)."""

    task_id: int
    name: str  # task.json, upload.json, asset.json or tips.json
    size: int  # bytes (UTF-8)


class TaskPageOut(Record):
    """One page of a task listing."""

    total: int
    page_no: int
    page_size: int
    items: list[TaskOut]


class TaskLineOut(Record):
    """One line of `GET /api/tasks/all` (JSON lines): a batch of records, or, last, the end
    mark (`end`: how many records were sent; a reply without it was cut short)."""

    tasks: list[TaskOut] | None = None
    end: int | None = None


class TaskOutputOut(Record):
    """One entry of a task's output manifest (download it with GET /api/blobs/{hash})."""

    path: str
    hash: str
    size: int
    thumb_hash: str | None
    frame: int | None


class HealthOut(Record):
    """Liveness."""

    ok: bool
    version: str


class QueueDepthOut(Record):
    """Frames waiting and running across the farm (for autoscalers)."""

    waiting: int
    running: int
