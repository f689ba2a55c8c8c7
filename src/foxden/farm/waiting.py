"""Why a task that waits is not taken: one sentence, read when a user looks at one task.

The reasons are the candidate query's rules (`foxden.farm.candidates`), checked for the task
instead of for a worker, most telling first:

1. no worker that may take work offers its software (with its required tags): none at all,
   or only workers an administrator disabled, drains or has not approved;
2. every such worker failed `task_failures` of its frames (failure memory,
   `foxden.farm.failure_memory`): it runs only on another worker, since enabling a worker
   again clears its flag and streak, not what it failed;
3. a privileged job type of an account that is not trusted (any more);
4. a dependency not done;
5. a named limit it takes is full.

'' when none holds: the task is not queued or rendering with frames waiting, or it waits only
for a free worker (not a problem). Worth one read per task shown, never per row of a list.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select, text

from foxden.core.states import ACTIVE, LOCKED_OUT, TaskStatus, WorkerMode, WorkerState
from foxden.db.schema import accounts, tasks, worker_task_failures, workers
from foxden.farm.candidates import LIMIT_USED
from foxden.farm.dependencies import depends_on
from foxden.farm.failure_memory import DEFAULT, FailurePolicy
from foxden.farm.limits import task_limit_names
from foxden.farm.privileges import PRIVILEGED_JOB_TYPES
from foxden.farm.workers import OFFLINE_AFTER

_ACTIVE = sorted(status.value for status in ACTIVE)
#: the limits `:names` with their maximum and the frames running under each now
_LIMITS_NOW = text(
    f"SELECT limits.name, limits.max_running, {LIMIT_USED} AS used FROM limits "
    "WHERE limits.name IN :names ORDER BY limits.name"
).bindparams(bindparam("names", expanding=True))
_NAMED = 5  # dependencies named in the sentence


@dataclass(frozen=True)
class _Capable:
    """The workers that offer a task's software and tags (revoked ones left out)."""

    usable: int  # approved, active and not kept off: they may take it
    kept_off: int  # they failed too many of its frames (any of them, usable or not)
    held: int  # not kept off, but disabled, draining or not approved
    offline: int  # usable, not kept off, but signed off or not seen for a while

    @property
    def total(self) -> int:
        return self.usable + self.held + self.kept_off


def waiting_for(
    conn: Connection, task_id: int, policy: FailurePolicy = DEFAULT, *, now: float | None = None
) -> str:
    """Why task `task_id` has frames waiting that no worker takes ('' when nothing holds it
    back but busy workers, or it has none waiting)."""
    task = conn.execute(
        select(
            tasks.c.status,
            tasks.c.n_waiting,
            tasks.c.software_key,
            tasks.c.cg_soft_name,
            tasks.c.job_type,
            tasks.c.options,
            tasks.c.blocked_reason,
            accounts.c.name.label("account"),
            accounts.c.trusted,
            accounts.c.is_admin,
        )
        .join(accounts, accounts.c.id == tasks.c.account_id)
        .where(tasks.c.id == task_id)
    ).first()
    if task is None or task.status not in _ACTIVE or task.n_waiting <= 0:
        return ""
    software = task.cg_soft_name
    tags = _tags(task.options)
    capable = _capable(conn, task_id, task.software_key, tags, policy, now)
    if not capable.total:
        with_tags = f" with the tags {', '.join(sorted(tags))}" if tags else ""
        return f"no worker offers {software}{with_tags}: it runs once one that does joins"
    if not capable.usable:
        return _no_taker(capable, software, policy)
    if task.job_type in PRIVILEGED_JOB_TYPES and not (task.trusted or task.is_admin):
        return (
            f"the {task.job_type} job type runs only for accounts an administrator trusts, "
            f"and {task.account} is not trusted now (foxden account trust {task.account})"
        )
    needed = [(i, s) for i, s in depends_on(conn, task_id) if s != TaskStatus.DONE.value]
    if needed:
        return _dependencies(needed, task.blocked_reason)
    full = _full_limit(conn, task_id)
    if full:
        return full
    if capable.offline == capable.usable:
        n = capable.offline
        which = "the one that does is" if n == 1 else f"the {n} that do are"
        return f"waiting for a worker that offers {software}: {which} offline"
    return ""


def _tags(options: Any) -> set[str]:
    """The tags a task requires of its workers (`options.tags`, as the claim reads them)."""
    parsed = options if isinstance(options, dict) else json.loads(options or "{}")
    return {str(tag) for tag in parsed.get("tags") or []}


def _capable(
    conn: Connection,
    task_id: int,
    key: str,
    tags: set[str],
    policy: FailurePolicy,
    now: float | None,
) -> _Capable:
    """Count the workers that offer `key` with `tags`, by what keeps them off the task."""
    kept = set(
        conn.execute(
            select(worker_task_failures.c.worker_id).where(
                (worker_task_failures.c.task_id == task_id)
                & (worker_task_failures.c.failures >= policy.task_failures)
            )
        ).scalars()
    )
    rows = conn.execute(
        select(
            workers.c.id,
            workers.c.software_keys,
            workers.c.tags,
            workers.c.approved,
            workers.c.admin_state,
            workers.c.status,
            workers.c.last_seen,
        ).where(workers.c.status.not_in([s.value for s in LOCKED_OUT]))
    ).all()
    cutoff = (time.time() if now is None else now) - OFFLINE_AFTER
    usable = kept_off = held = offline = 0
    for w in rows:
        if key not in (w.software_keys or []) or not tags <= set(w.tags or []):
            continue
        if w.id in kept:
            kept_off += 1
        elif w.approved and w.admin_state == WorkerMode.ACTIVE.value:
            usable += 1
            offline += w.status == WorkerState.OFFLINE.value or w.last_seen < cutoff
        else:
            held += 1
    return _Capable(usable=usable, kept_off=kept_off, held=held, offline=offline)


def _no_taker(capable: _Capable, software: str, policy: FailurePolicy) -> str:
    """Workers offer the software, but none that may take work will take this task."""
    one = capable.kept_off == 1
    failed = (
        f"{_workers(capable.kept_off)} that {'offers' if one else 'offer'} {software} "
        f"{'' if one else 'each '}failed {policy.task_failures} or more of its frames and "
        f"{'is' if one else 'are'} kept off it (enabling a worker again does not clear that)"
    )
    one = capable.held == 1
    held = (
        f"{_workers(capable.held)} that {'offers' if one else 'offer'} "
        f"{'it' if capable.kept_off else software} {'is' if one else 'are'} disabled, draining "
        f"or not approved (an administrator can enable or approve {'it' if one else 'them'})"
    )
    if not capable.held:
        return f"no worker takes it: {failed}; it runs only on another worker that offers it"
    if not capable.kept_off:
        return f"no worker takes it: {held}"
    return f"no worker takes it: {failed}, and {held}"


def _dependencies(needed: Sequence[tuple[int, str]], blocked_reason: str) -> str:
    """The tasks it waits for, named with their status."""
    if blocked_reason:
        return blocked_reason
    named = ", ".join(f"task {i} ({status})" for i, status in needed[:_NAMED])
    more = f" and {len(needed) - _NAMED} more" if len(needed) > _NAMED else ""
    return f"waiting for {named}{more} to be done (it depends on them)"


def _full_limit(conn: Connection, task_id: int) -> str:
    """The first limit the task takes that has no room left ('' when each has some)."""
    names = task_limit_names(conn, task_id)
    if not names:
        return ""
    for row in conn.execute(_LIMITS_NOW, {"names": names}):
        if int(row.used) >= row.max_running:
            if row.max_running == 0:
                return f"limit {row.name} holds its tasks (its maximum is 0 frames)"
            return (
                f"limit {row.name} is full: {int(row.used)} of its {row.max_running} frames run now"
            )
    return ""


def _workers(n: int) -> str:
    return f"{n} worker{'' if n == 1 else 's'}"
