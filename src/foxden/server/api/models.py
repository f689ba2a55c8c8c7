"""Typed request bodies of the account API (they make the OpenAPI document); those the farm's
services take as they are (plugin configs, project changes, manifest entries) are in
`foxden.wire.api`, the worker protocol's bodies in `foxden.wire.worker`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from foxden.wire.api import FileEntry, PluginConfigIn
from foxden.wire.fields import Finite, Int32, RowId, refuse_non_finite


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


class ProjectIn(BaseModel):
    """A new project."""

    project_name: str
    project_path: str = ""
    remark: str = ""
    render_os: str = "linux"
    plugins: list[PluginConfigIn] = []


class TimeLimitsIn(BaseModel):
    """A project's default time limits for its tasks, in seconds (null or 0: none)."""

    frame_timeout_s: Int32 | None = Field(
        None, description="seconds one frame may render before it fails as timed out"
    )
    progress_timeout_s: Int32 | None = Field(
        None, description="seconds a renderer may go without a progress or log line"
    )


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
    strict: bool = Field(
        False,
        description="refuse the task (400 naming them) when the scene uses files that were "
        "never uploaded, instead of submitting it with a warning for each",
    )
    depends_on: list[RowId] = Field(
        default=[],
        max_length=100,
        description="ids of your tasks this one waits for: it runs once every one is done, and "
        "waits blocked (its `blocked_reason` says why) while one of them is failed or aborted",
    )
    limits: list[str] = Field(
        default=[],
        max_length=100,
        description="named limits the task takes (an admin sets them: `foxden limit set NAME "
        "MAX`): frames of the tasks holding a limit never run more than its maximum at once",
    )
    frame_order: Literal["first_last_middle", "in_order"] | None = Field(
        None,
        description="the order frames are rendered in: the first, last and middle frames "
        "first, then the rest in order (the default), or `in_order`",
    )
    webhook: str | None = Field(
        None,
        description="an http(s) URL that gets this task's events (task_done, task_failed, "
        "frame_failed), signed with a secret the reply's `webhook_secret` shows once",
    )
    frame_timeout_s: Int32 | None = Field(
        None,
        description="seconds one frame may render before the worker kills the renderer and "
        "the frame fails as timed out (retried); default: the project's, else the account's",
    )
    progress_timeout_s: Int32 | None = Field(
        None,
        description="seconds the renderer may go without a progress or log line before it is "
        "killed and the frame fails as timed out; default: the project's",
    )
    chunk_seconds: Finite | None = Field(
        None,
        description="how long one worker's chunk should render: a claim takes as many frames "
        "as fit, from the task's measured frame times (1 until one is done), at most "
        "chunk_size (100 when not given)",
    )
    movie: bool | Literal["h264", "prores"] | None = Field(
        None,
        description="also make a movie of the frames once they are done: true or `h264` (an "
        "H.264 MP4), `prores` (a ProRes .mov); a follow-up task of job type `ffmpeg`, named "
        "in the reply's `options.movie.task_id`, whose movie becomes an output of this task",
    )

    @model_validator(mode="before")
    @classmethod
    def _finite(cls, data: Any) -> Any:
        refuse_non_finite(data)
        return data


class MovieIn(BaseModel):
    """A movie of a task's frames: its codec and, when not the scene's, its frame rate."""

    codec: Literal["h264", "prores"] = "h264"
    fps: Annotated[float, Field(gt=0, le=240, allow_inf_nan=False)] | None = None


class LimitIn(BaseModel):
    """A named limit's maximum of frames running at once (0 holds its tasks)."""

    max_running: Annotated[int, Field(ge=0, le=1_000_000)]


class ShareIn(BaseModel):
    """An account's share of the farm: its weight among accounts competing for slots."""

    share: Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False)]


class BandIn(BaseModel):
    """A task's priority band: a higher band is served first, farm-wide."""

    band: Annotated[int, Field(ge=-1000, le=1000)]


class ProjectLimitsIn(BaseModel):
    """The limits every task of a project takes (replaces those it had)."""

    limits: list[str] = Field(default=[], max_length=100)


class RestartIn(BaseModel):
    """Which frames to restart: by kind, or the frames named (a frame spec or a list)."""

    restart: Literal["failed", "aborted", "done", "running", "waiting", "stopped", "all"] = "failed"
    frames: str | list[Int32] | None = None
