"""How many tasks each project of an account has, by status (the projects page)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from foxden.core.states import ACTIVE, TaskStatus
from foxden.db.engine import Database
from foxden.db.schema import tasks


@dataclass
class ProjectTally:
    """A project's tasks: how many in all, and how many in each status."""

    total: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    @property
    def active(self) -> int:
        """Tasks queued or rendering."""
        return sum(self.by_status.get(s.value, 0) for s in ACTIVE)

    @property
    def failed(self) -> int:
        """Tasks that failed."""
        return self.by_status.get(TaskStatus.FAILED.value, 0)


def project_tallies(db: Database, account_id: int) -> dict[str, ProjectTally]:
    """The account's tasks counted by project name (drafts left out, as in task lists)."""
    with db.read() as conn:
        rows = conn.execute(
            select(tasks.c.project_name, tasks.c.status, func.count(tasks.c.id))
            .where((tasks.c.account_id == account_id) & (tasks.c.status != TaskStatus.DRAFT.value))
            .group_by(tasks.c.project_name, tasks.c.status)
        ).all()
    found: dict[str, ProjectTally] = {}
    for name, status, n in rows:
        tally = found.setdefault(name, ProjectTally())
        tally.total += int(n)
        tally.by_status[status] = int(n)
    return found
