"""Typed records of the JSON API, as `Client` returns them.

They are the account API's reply models (`foxden.wire.api`, the shapes the server declares),
under the client's names, with what a client adds: `Project.default_config`, `Task.finished`
and `Task.raw`. `from_json` validates a decoded reply.
"""

from __future__ import annotations

from typing import Any

from foxden.core.states import FINISHED
from foxden.wire.api import (
    AccountOut,
    FrameOut,
    FrameOutput,
    PluginConfigOut,
    ProjectOut,
    SoftwareOut,
    TaskOut,
    TaskOutputOut,
    TaskPageOut,
)

Account = AccountOut  # the caller (`Client.me`) or one of the farm's (admins)
PluginConfig = PluginConfigOut
Software = SoftwareOut
Frame = FrameOut
OutputFile = TaskOutputOut  # one entry of a task's output manifest

__all__ = [
    "Account",
    "Frame",
    "FrameOutput",
    "OutputFile",
    "PluginConfig",
    "Project",
    "Software",
    "Task",
    "TaskPage",
]


class Project(ProjectOut):
    """A project and its plugin configs."""

    @property
    def default_config(self) -> PluginConfig | None:
        """The config a submission uses unless it names one."""
        return next(
            (p for p in self.plugins if p.is_default), self.plugins[0] if self.plugins else None
        )


class Task(TaskOut):
    """A task; `frames_detail` is filled when the frames were asked for."""

    @property
    def finished(self) -> bool:
        """Done, failed or aborted: nothing more will render unless restarted."""
        return self.status in FINISHED

    @property
    def raw(self) -> dict[str, Any]:
        """The task as the server's JSON reply gave it."""
        return self.model_dump(mode="json", exclude_unset=True)


class TaskPage(TaskPageOut):
    """One page of a task listing, its items as `Task`."""

    items: list[Task]  # type: ignore[assignment]  # frozen: a Task list is a TaskOut list here
