"""The worker protocol's shapes (docs/worker-protocol.md): what a render node sends, what it gets.

What the server validates (register, claim, heartbeat and report bodies) are pydantic models;
the worker builds the same models to send them. What the worker reads (the replies) are
TypedDicts: it keeps them as the plain dicts JSON decodes to, and the server declares its
replies with them (pydantic derives their schemas), so each shape is written down once here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from foxden.wire.fields import MAX_INT32, Count, Digest, Finite, Int32, Size

#: the most leases one claim may ask for, and the longest a claim may ask to be held open
MAX_SLOTS = 64
MAX_CLAIM_WAIT = 60.0

# -- what the worker sends (validated by the server) ---------------------------------------------


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
    """A request for work.

    `slots`: how many leases the worker can take now (`POST /claims` gives up to that many in
    one reply; `POST /claim` gives one). `wait`: seconds the server may hold an idle claim open
    (long poll) and answer the moment work for this worker appears; 0 answers at once. The
    server holds it at most its own `claim_wait_seconds`.
    """

    max_frames: int | None = Field(default=None, ge=1, le=MAX_INT32)
    slots: int = Field(default=1, ge=1, le=MAX_SLOTS)
    wait: float = Field(default=0.0, ge=0, le=MAX_CLAIM_WAIT, allow_inf_nan=False)


class HeartbeatIn(BaseModel):
    """Progress (0..1 per frame number) and new log text per frame number."""

    progress: dict[Int32, Finite] = {}  # the server keeps it within 0..1
    logs: dict[Int32, str] = {}


class OutputFile(BaseModel):
    """One output of a frame, already uploaded as a blob (name relative to the task's output
    folder)."""

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
    """Outcomes of frames of a lease; with `claim`, the same request also asks for the next
    work (the reply's `leases`; never held open: `wait` is ignored here). `key`: see
    `foxden.server.replays`."""

    results: list[FrameResult]
    claim: ClaimIn | None = None
    #: the report's own key, the same in each of its retries: a retry of a report the server
    #: applied gets the first one's reply (its leases too), not "lease lost"
    key: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


# -- what the worker reads (the server's replies) ------------------------------------------------


class RegisteredOut(TypedDict):
    """The register reply: this worker's id and its own token."""

    worker_id: int
    token: str
    approved: bool  # false: it waits for an administrator's approval before it gets work
    heartbeat_seconds: float
    lease_seconds: float


class InputFile(TypedDict):
    """A file of the task's account tree the worker must lay out in its workspace."""

    path: str
    hash: str
    size: int


class TaskInfo(TypedDict):
    """What the worker is told about the task of a lease."""

    id: int
    job_type: str
    cg_soft_name: str
    plugin_name: str
    scene_path: str
    render_layer: str
    camera: str
    options: dict[str, Any]
    output_folder: str
    allow_network: bool  # the project's sandbox rights (set by administrators)
    allow_scripts: bool


class LeaseOut(TypedDict):
    """The claim reply: frames of one task under a lease."""

    lease_id: int
    lease_seconds: float
    heartbeat_seconds: float
    frames: list[int]
    task: TaskInfo
    inputs: list[InputFile]
    # the task's time limits in seconds (its own, else its project's, else its account's
    # default; None: no limit): a frame's render time, the time without a progress or log line
    frame_timeout_s: NotRequired[int | None]
    progress_timeout_s: NotRequired[int | None]


class HeartbeatOut(TypedDict):
    """The heartbeat reply: go on (the lease was extended) or stop (and why)."""

    action: Literal["continue", "stop"]
    reason: NotRequired[str]  # with "stop"
    lease_seconds: NotRequired[float]  # with "continue"


class RejectedFrame(TypedDict):
    """A reported frame the server did not take, and why."""

    frame: int
    reason: str


class ReportOut(TypedDict):
    """Which reported frames the server took; with a `claim` in the report, the next leases
    (empty: no work now)."""

    accepted: list[int]
    rejected: list[RejectedFrame]
    leases: NotRequired[list[LeaseOut]]


class ClaimsOut(TypedDict):
    """The reply of `POST /claims`: up to `slots` leases (never empty: 204 when none)."""

    leases: list[LeaseOut]


class ReleasedOut(TypedDict):
    """How many frames went back to the queue (release, sign-off)."""

    released: int


class UploadedOut(TypedDict):
    """An output blob stored for a lease."""

    hash: str
    size: int
    lease: int
