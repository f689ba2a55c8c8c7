"""Replies of the scheduling policy's routes (`/api/limits`, shares, bands, project limits):
pydantic only, shared by the server and the client."""

from __future__ import annotations

from foxden.wire.fields import Record


class LimitOut(Record):
    """A named limit: at most `max_running` frames of the tasks that take it run at once."""

    name: str
    max_running: int
    running: int  # frames of tasks holding it that run now
    tasks: int  # unfinished tasks that take it (their own or by their project)


class LimitRemovedOut(Record):
    """A limit removed (tasks that took it no longer do)."""

    name: str
    removed: bool


class ShareOut(Record):
    """An account's share of the farm (its weight among accounts competing for slots)."""

    account: str
    share: float


class BandOut(Record):
    """A task's priority band (a higher band is served first, farm-wide)."""

    task_id: int
    band: int


class ProjectLimitsOut(Record):
    """The limits every task of a project takes."""

    account: str
    project_name: str
    limits: list[str]


class DependencyOut(Record):
    """A task another one waits for, and its status now."""

    id: int
    status: str


class TaskPolicyOut(Record):
    """What a task waits for and takes: its dependencies, the tasks waiting for it, why it is
    blocked ('' when it is not), why no worker takes its waiting frames ('' when nothing holds
    them back but busy workers), its limits (its own and its project's) and its band."""

    task_id: int
    depends_on: list[DependencyOut]
    dependents: list[int]
    blocked_reason: str
    waiting_for: str = ""
    limits: list[str]
    band: int
