"""Typed records of the JSON API, as `Client` returns them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from foxden.core.states import FINISHED


@dataclass(frozen=True)
class Account:
    """An account: the caller (`Client.me`) or one of the farm's (admins)."""

    id: int
    name: str
    is_admin: bool
    disabled: bool
    email: str
    created_at: float | None
    login_at: float | None
    trusted: bool = False  # may use the command job type (an administrator's decision)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Account:
        return cls(
            int(d["id"]),
            str(d["name"]),
            bool(d["is_admin"]),
            bool(d.get("disabled")),
            str(d.get("email") or ""),
            d.get("created_at"),
            d.get("login_at"),
            bool(d.get("trusted")),
        )


@dataclass(frozen=True)
class PluginConfig:
    """Software and plugins a project renders with."""

    config_id: int
    cg_soft_name: str
    plugin_name: str
    is_default: bool

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PluginConfig:
        return cls(
            int(d["config_id"]),
            str(d["cg_soft_name"]),
            str(d.get("plugin_name") or ""),
            bool(d.get("is_default")),
        )


@dataclass(frozen=True)
class Project:
    """A project and its plugin configs."""

    project_id: int
    project_name: str
    project_path: str
    render_os: str
    remark: str
    create_time: float | None
    plugins: list[PluginConfig]
    allow_network: bool = False  # sandbox rights, set by administrators only
    allow_scripts: bool = False

    @property
    def default_config(self) -> PluginConfig | None:
        """The config a submission uses unless it names one."""
        return next(
            (p for p in self.plugins if p.is_default), self.plugins[0] if self.plugins else None
        )

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Project:
        return cls(
            int(d["project_id"]),
            str(d["project_name"]),
            str(d.get("project_path") or ""),
            str(d.get("render_os") or ""),
            str(d.get("remark") or ""),
            d.get("create_time"),
            [PluginConfig.from_json(p) for p in d.get("plugins") or []],
            bool(d.get("allow_network")),
            bool(d.get("allow_scripts")),
        )


@dataclass(frozen=True)
class Software:
    """Software (and its plugins) that the farm's workers can run."""

    cg_soft_name: str
    plugins: list[str]

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Software:
        return cls(str(d["cg_soft_name"]), [str(p) for p in d.get("plugins") or []])


@dataclass(frozen=True)
class FrameOutput:
    """One file a frame produced (path under the task's output folder)."""

    path: str
    hash: str
    size: int

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FrameOutput:
        return cls(str(d["path"]), str(d["hash"]), int(d["size"]))


@dataclass(frozen=True)
class Frame:
    """One frame of a task."""

    id: int
    number: int
    status: str
    attempts: int
    progress: float
    start_time: float | None
    end_time: float | None
    render_time: float | None
    error: str
    outputs: list[FrameOutput]

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Frame:
        return cls(
            int(d["id"]),
            int(d["number"]),
            str(d["status"]),
            int(d.get("attempts") or 0),
            float(d.get("progress") or 0.0),
            d.get("start_time"),
            d.get("end_time"),
            d.get("render_time"),
            str(d.get("error") or ""),
            [FrameOutput.from_json(o) for o in d.get("outputs") or []],
        )


@dataclass(frozen=True)
class Task:
    """A task; `frames_detail` is filled when the frames were asked for."""

    id: int
    project_name: str
    status: str
    frames: str
    frame_count: int
    counts: dict[str, int]
    progress: float
    cg_soft_name: str
    scene_path: str
    render_layer: str
    camera: str
    artist: str
    output_folder: str
    warnings: list[str]
    submit_time: float | None
    completed_time: float | None
    raw: dict[str, Any] = field(repr=False, compare=False)
    frames_detail: list[Frame] | None = None

    @property
    def finished(self) -> bool:
        """Done, failed or aborted: nothing more will render unless restarted."""
        return self.status in FINISHED

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Task:
        detail = d.get("frames_detail")
        return cls(
            int(d["id"]),
            str(d["project_name"]),
            str(d["status"]),
            str(d["frames"]),
            int(d["frame_count"]),
            {str(k): int(v) for k, v in (d.get("counts") or {}).items()},
            float(d.get("progress") or 0.0),
            str(d.get("cg_soft_name") or ""),
            str(d["scene_path"]),
            str(d.get("render_layer") or ""),
            str(d.get("camera") or ""),
            str(d.get("artist") or ""),
            str(d.get("output_folder") or ""),
            [str(w) for w in d.get("warnings") or []],
            d.get("submit_time"),
            d.get("completed_time"),
            d,
            None if detail is None else [Frame.from_json(f) for f in detail],
        )


@dataclass(frozen=True)
class TaskPage:
    """One page of a task listing."""

    total: int
    page_no: int
    page_size: int
    items: list[Task]


@dataclass(frozen=True)
class OutputFile:
    """One entry of a task's output manifest."""

    path: str
    hash: str
    size: int
    frame: int | None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> OutputFile:
        frame = d.get("frame")
        return cls(
            str(d["path"]), str(d["hash"]), int(d["size"]), None if frame is None else int(frame)
        )
