"""The claim's one candidate query and its frame pick: the scheduling rules as SQL.

Which tasks a worker may take, best first (docs/architecture.md, "Scheduling"):

1. eligible: queued or rendering with frames waiting, software the worker has, a privileged
   job type only for a trusted account, the worker active (not drained or disabled), every
   dependency done (`task_dependencies`), not blocklisted for this worker (it failed
   `max_task_failures` frames of the task, `worker_task_failures`), and room under every
   limit the task or its project takes (`limits`: running frames of the tasks holding a
   limit stay at or under its maximum);
2. the highest band first (`tasks.band`, admins set it), farm-wide;
3. then the account furthest below its share: running frames of the account divided by its
   share (`accounts.share`), lowest first; on a tie the larger share, then the older account.
   Serving the lowest ratio is serving the account furthest below its fair part of the running
   slots (share / sum of shares x slots running), whatever the sum;
4. then that account's own order: its tasks by priority, then age.

The query is one statement on SQLite and PostgreSQL alike. Its `room` column is the fewest
frames any limit of the task still allows (NULL: the task takes no limit); on PostgreSQL the
claim checks it again under the limits' row locks (`foxden.farm.limits.locked_room`).

On PostgreSQL it runs on its generic plan (`GENERIC_PLAN` first, in its transaction): planned
once per connection once the driver has prepared it, never per claim. Left to choose (the
default `plan_cache_mode`), PostgreSQL compares the generic plan's estimate with the custom
plans': on a big farm, whose waiting tasks mostly need a few software keys, a custom plan for a
worker's rarer keys is estimated cheaper, so every claim planned the query again (about 1 ms,
most of an idle claim) while an empty farm's claims ran a prepared generic plan. Both plans seek
by the same partial indexes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, TextClause, bindparam, text

from foxden.core.states import ACTIVE, TaskStatus, WorkerMode
from foxden.db.hot import Hot
from foxden.farm import lifecycle
from foxden.farm.privileges import PRIVILEGED_JOB_TYPES

CANDIDATES = 20  # tasks the claim looks at, best first

_ACTIVE_SQL = ", ".join(f"'{status.value}'" for status in sorted(ACTIVE))

#: running frames of the tasks that hold limit `limits.name` (directly or by their project)
LIMIT_USED = (
    "COALESCE((SELECT SUM(held.n_running) FROM tasks AS held WHERE held.n_running > 0 AND ("
    "held.id IN (SELECT tl.task_id FROM task_limits AS tl WHERE tl.name = limits.name) OR "
    "held.project_id IN (SELECT pl.project_id FROM project_limits AS pl "
    "WHERE pl.name = limits.name))), 0)"
)
#: the limit names task `{task}` takes: its own and its project's
LIMIT_NAMES = (
    "SELECT tl.name FROM task_limits AS tl WHERE tl.task_id = {task} UNION "
    "SELECT pl.name FROM project_limits AS pl WHERE pl.project_id = {project}"
)
_ROOM = (
    f"(SELECT MIN(limits.max_running - {LIMIT_USED}) FROM limits WHERE limits.name IN ("
    + LIMIT_NAMES.format(task="tasks.id", project="tasks.project_id")
    + "))"
)

#: what a lease carries that changes after submission, read with the candidates (so in the
#: claim's own transaction when it is a report's, else a moment before it): the project's
#: sandbox rights (admins set them; no project: none) and the time limits (the task's own,
#: else its project's defaults, else, for a frame's render time, its account's SDK setting)
LEASE_TERMS = (
    "projects.allow_network, projects.allow_scripts, "
    "COALESCE(tasks.frame_timeout_s, projects.frame_timeout_s, accounts.task_timeout_s) "
    "AS frame_timeout_s, "
    "COALESCE(tasks.progress_timeout_s, projects.progress_timeout_s) AS progress_timeout_s"
)

CANDIDATE_TASKS: TextClause = text(
    "WITH running AS (SELECT account_id, SUM(n_running) AS n FROM tasks "
    "WHERE n_running > 0 GROUP BY account_id) "
    "SELECT * FROM ("
    "SELECT tasks.id, tasks.chunk_size, tasks.options, tasks.submit_time, tasks.band, "
    "tasks.priority, tasks.account_id, tasks.target_chunk_seconds, accounts.share, "
    "CAST(COALESCE(running.n, 0) AS FLOAT) / accounts.share AS load, "
    f"{_ROOM} AS room, {LEASE_TERMS} "
    "FROM tasks JOIN accounts ON accounts.id = tasks.account_id "
    "LEFT JOIN projects ON projects.id = tasks.project_id "
    "LEFT JOIN running ON running.account_id = tasks.account_id "
    f"WHERE tasks.status IN ({_ACTIVE_SQL}) "
    "AND tasks.n_waiting > 0 "
    "AND tasks.software_key IN :keys "
    "AND (tasks.job_type NOT IN :privileged OR accounts.trusted OR accounts.is_admin) "
    "AND EXISTS (SELECT 1 FROM workers WHERE workers.id = :worker_id "
    f"AND workers.admin_state = '{WorkerMode.ACTIVE.value}') "
    "AND NOT EXISTS (SELECT 1 FROM task_dependencies AS dep "
    "JOIN tasks AS needed ON needed.id = dep.depends_on "
    f"WHERE dep.task_id = tasks.id AND needed.status <> '{TaskStatus.DONE.value}') "
    "AND NOT EXISTS (SELECT 1 FROM worker_task_failures AS wtf "
    "WHERE wtf.worker_id = :worker_id AND wtf.task_id = tasks.id "
    "AND wtf.failures >= :max_failures)"
    ") AS cand WHERE cand.room IS NULL OR cand.room > 0 "
    "ORDER BY cand.band DESC, cand.load, cand.share DESC, cand.account_id, "
    f"cand.priority DESC, cand.id LIMIT {CANDIDATES}"
).bindparams(
    bindparam("keys", expanding=True),
    bindparam("privileged", value=sorted(PRIVILEGED_JOB_TYPES), expanding=True),
)

#: what the candidate query's transaction runs before it on PostgreSQL (see the module); it
#: holds to the end of the transaction, for the claim's own statements after it too: key
#: lookups, whose plans are generic anyway once the driver has prepared them
GENERIC_PLAN = Hot("SET LOCAL plan_cache_mode = force_generic_plan")


class _Candidates(Hot):
    """The candidate query, run on its generic plan on PostgreSQL: `GENERIC_PLAN` is sent just
    before it, however it is run (alone, or in a batch)."""

    __slots__ = ()

    def _run(self, conn: Connection, params: dict[str, Any]) -> Any:
        if conn.dialect.name == "postgresql":
            GENERIC_PLAN.run(conn, {})
        return super()._run(conn, params)


_HOT_CANDIDATES: dict[int, Hot] = {}


def candidate_tasks(n_keys: int) -> Hot:
    """CANDIDATE_TASKS for a worker with `n_keys` software keys, run on the driver's cursor
    (`foxden.db.hot`) and on PostgreSQL on its generic plan: parameters `key_0` ..
    `key_{n-1}`, `worker_id`, `max_failures`; the privileged job types written in (they are
    constants). Made once per number of keys."""
    hot = _HOT_CANDIDATES.get(n_keys)
    if hot is None:
        keys = ", ".join(f":key_{i}" for i in range(n_keys))
        privileged = ", ".join(f"'{name}'" for name in sorted(PRIVILEGED_JOB_TYPES))
        sql = CANDIDATE_TASKS.text.replace(":keys", f"({keys})")
        hot = _Candidates(sql.replace(":privileged", f"({privileged})"))
        if len(_HOT_CANDIDATES) < 64:  # workers offer a few keys each: a few shapes
            _HOT_CANDIDATES[n_keys] = hot
    return hot


# A task's waiting frames in claim order (`frames.seq`, then number; index
# ix_frames_waiting_seq). `:avoid` leaves out the frames whose last attempt failed on this
# worker: retries go to another worker first, this one takes them back only when nothing
# else is eligible (the claim's second pass).
_WAITING_FRAMES = (
    "SELECT id, number FROM frames "
    f"WHERE task_id = :task_id AND status = '{lifecycle.CLAIM_FROM.value}' "
    "AND NOT (:avoid AND COALESCE(worker_id, 0) = :worker_id AND error <> '') "
    "ORDER BY seq, number LIMIT :size"
)
WAITING_FRAMES_SQLITE = Hot(_WAITING_FRAMES)
WAITING_FRAMES_PG = Hot(_WAITING_FRAMES + " FOR UPDATE SKIP LOCKED")
