"""The vendor's shapes (Renderbus `Fox`): the `{head, body}` envelope of `POST /api/v1/task`
and the records in it, as old clients expect them. `foxden.vendor_records` builds them from
foxden's own records (`foxden.wire.api`)."""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from pydantic import BaseModel
from typing_extensions import TypedDict


class VendorTransport(TypedDict):
    """A way to move files to and from the farm, as the login names it: foxden's own HTTP(S)
    transfer (`engine` "foxden-http"), at the host and port the login came in by."""

    engine: str
    server: str
    ip: str
    port: int


class VendorUser(TypedDict):
    """A user record (`query_customer`)."""

    id: int
    login_name: str
    user_name: str
    role: Literal["admin", "user"]
    email: str
    account_type: int
    balance: int
    coupon: int
    register_date: str  # yyyy-MM-dd HH:mm:ss, local time; '' for none
    login_date: str
    upload_id: NotRequired[int]  # the login (`query_customer` on /api/v1/task) adds these three
    download_id: NotRequired[int]
    transports: NotRequired[list[VendorTransport]]


class VendorPluginConfig(TypedDict):
    """A project's plugin config."""

    config_id: int
    cg_soft_name: str
    plugin_name: str
    is_default: Literal["1", "0"]  # strings, as the vendor's client compares them


class VendorProject(TypedDict):
    """A project record (`query_project`, `create_project`, `operate_project`): foxden's, with
    the creation time as the vendor writes times."""

    project_id: int
    project_name: str
    project_path: str
    render_os: str
    remark: str
    create_time: str
    plugins: list[VendorPluginConfig]
    allow_network: bool
    allow_scripts: bool


class VendorPlugin(TypedDict):
    """Software on offer (`query_plugin`); plugins joined by commas."""

    cg_soft_name: str
    plugin_name: str


class VendorJob(TypedDict):
    """A frame ("job") of a task."""

    job_id: int
    job_name: str
    frame: int
    job_status: str
    start_time: str
    end_time: str
    consume_time: float
    attempts: int
    error: str
    failure_category: str  # why its last attempt failed (foxden's category), '' if it did not
    advice: str  # one sentence: what to do about that failure
    outputs: list[str]


class VendorTask(TypedDict):
    """A task record (`query_task`, `operate_task`); `jobs` when the frames were asked for."""

    task_id: int
    project_name: str
    task_status: str
    status: str
    frames: str
    frame_count: int
    done_count: int
    failed_count: int
    executing_count: int
    waiting_count: int
    abort_count: int
    stopped_count: int
    cg_soft_name: str
    plugin_name: str
    input_scene_path: str
    camera: str
    render_layer: str
    artist: str
    submit_account: str
    submit_time: str
    completed_time: str
    output_folder: str
    warnings: list[str]
    failure_summary: str  # "2 of 24 frames failed: ...", '' when no frame failed
    fee: float  # core-hours used x the farm's rate per core-hour (0 when it sets none)
    #: seconds until its frames are all rendered (foxden's estimate); None when unknown
    eta_seconds: float | None
    core_hours: float | None  # core-hours of all its frames (foxden's estimate); None: unknown
    jobs: NotRequired[list[VendorJob]]


class VendorTaskCreated(TypedDict):
    """The id of a task `create_task` made."""

    task_id: int


class VendorTaskDeleted(TypedDict):
    """A task `operate_task` deleted."""

    task_id: Any  # as the caller named it
    deleted: bool


VendorRecord = (
    VendorUser | VendorProject | VendorPlugin | VendorTask | VendorTaskCreated | VendorTaskDeleted
)


class VendorHead(BaseModel):
    """The envelope's head: "0" and no error, or "1" with the error's code as `error_code` (the
    HTTP status foxden's own API would give it, e.g. "401", "404", "429"); the HTTP status of the
    reply itself is always 200."""

    result: Literal["0", "1"]
    error_code: str
    error_message: str


class VendorBody(BaseModel):
    """The envelope's body: the action's records and how many there are in all."""

    data: list[VendorRecord]
    total_size: int


class VendorProjectBody(VendorBody):
    """The body of `create_project`: the new project's id besides its record."""

    project_id: int


class VendorReply(BaseModel):
    """A reply of `POST /api/v1/task`, success or failure (`query_plugin`: the list itself)."""

    head: VendorHead
    body: VendorProjectBody | VendorBody | list[VendorPlugin]


class SdkReply(BaseModel):
    """A reply of the vendor SDK's API (`/api/render/...`, `/api/rendering/...`), success or
    failure: `code` 200 and the call's `data`, or the error's code (401, 404, ...) and `message`."""

    version: str
    result: bool
    code: int
    message: str
    data: dict[str, Any] | list[Any] | str | int | None
    serverTime: int
