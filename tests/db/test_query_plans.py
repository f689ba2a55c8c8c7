"""The claim's candidate query, the task lists and counts (status-filtered or not) and a frame
page's outputs are served by indexes on both databases (EXPLAIN), so their cost does not grow
with finished tasks, nor with other accounts' tasks."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, bindparam, func, select, text

from foxden.db.engine import Database
from foxden.db.migrate import upgrade
from foxden.db.schema import outputs, tasks
from foxden.farm import candidates
from foxden.farm.accounts import create_account
from foxden.farm.privileges import PRIVILEGED_JOB_TYPES
from foxden.farm.tasks import _TASK_COLUMNS, _task_filter, _task_order
from tests.listkit import account_id, fill

# every name the tasks table goes by in the queries below
_TASK_NAMES = {"tasks", "held", "needed"}
# the partial indexes of tasks: only tasks with frames waiting, or running
_PARTIAL = {"ix_tasks_waiting_software", "ix_tasks_running_account"}


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    try:
        upgrade(database)
        yield database
    finally:
        database.dispose()


@pytest.fixture
def farm(db: Database) -> tuple[Database, int]:
    """A farm of ten accounts of 250 tasks each (all statuses), its statistics gathered; the
    second account's id."""
    ids = []
    for n in range(10):
        create_account(db, f"a{n}")
        ids.append(account_id(db, f"a{n}"))
        fill(db, ids[-1], 250, 1)
    with db.write() as conn:
        conn.exec_driver_sql("ANALYZE")
    return db, ids[1]


def _plan(conn: Connection, sql: str, params: dict[str, object]) -> str:
    """The database's plan of `sql`; PostgreSQL is told to avoid sequential scans wherever an
    index can serve, as it would on a table big enough to matter."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        prefix = "EXPLAIN "
    else:
        prefix = "EXPLAIN QUERY PLAN "
    stmt = text(prefix + sql).bindparams(
        *[bindparam(k, expanding=isinstance(v, list)) for k, v in params.items()]
    )
    rows = conn.execute(stmt, params).all()
    return "\n".join(str(r[-1]) for r in rows)


def _assert_tasks_not_scanned(plan: str, dialect: str) -> None:
    if dialect == "postgresql":
        scanned = re.findall(r"Seq Scan on (\w+)", plan)
        assert "Index" in plan, plan
    else:  # a SCAN of a partial index reads only the rows it holds (tasks waiting or running)
        scanned = [
            name
            for name, index in re.findall(
                r"\bSCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?", plan
            )
            if index not in _PARTIAL
        ]
        assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan
    assert not _TASK_NAMES & set(scanned), f"the tasks table is scanned whole:\n{plan}"


def test_the_claims_candidate_query_uses_indexes(db: Database) -> None:
    params: dict[str, object] = {
        "keys": ["blender-4.2", "command-1"],
        "privileged": sorted(PRIVILEGED_JOB_TYPES),
        "worker_id": 1,
        "max_failures": 3,
    }
    with db.read() as conn:
        plan = _plan(conn, candidates.CANDIDATE_TASKS.text, params)
    _assert_tasks_not_scanned(plan, db.dialect)
    assert "ix_tasks_waiting_software" in plan and "ix_tasks_running_account" in plan, plan


@pytest.mark.parametrize("status", ["rendering", "Failed"])
def test_status_filtered_task_lists_and_counts_use_indexes(
    farm: tuple[Database, int], status: str
) -> None:
    db, account = farm
    where = _task_filter(account, {"task_status": status})
    page = select(tasks).where(where).order_by(tasks.c.id.desc()).limit(20).offset(0)
    count = select(func.count()).select_from(tasks).where(where)
    with db.read() as conn:
        for query in (page, count):
            compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            plan = _plan(conn, str(compiled), {})
            _assert_tasks_not_scanned(plan, db.dialect)
            assert "ix_tasks_account_status" in plan, plan


@pytest.mark.parametrize("sort", ["-id", "submit_time"])
def test_the_default_task_list_and_its_count_use_indexes(
    farm: tuple[Database, int], sort: str
) -> None:
    db, account = farm
    where = _task_filter(account, {})
    order, desc = _task_order({"sort": sort})
    page = (
        select(*_TASK_COLUMNS)
        .where(where)
        .order_by(order, tasks.c.id.desc() if desc else tasks.c.id)
        .limit(100)
        .offset(200)
    )
    count = select(func.count()).select_from(tasks).where(where)
    with db.read() as conn:
        for query in (page, count):
            compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            plan = _plan(conn, str(compiled), {})
            _assert_tasks_not_scanned(plan, db.dialect)
            assert "ix_tasks_account_" in plan, plan  # the account's tasks only
        if sort == "-id":  # the newest first, from the account's index
            compiled = page.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            plan = _plan(conn, str(compiled), {})
            assert "ix_tasks_account_order" in plan, plan
            if db.dialect == "sqlite":  # read in the index's order, never all sorted first
                assert "TEMP B-TREE" not in plan, plan


def test_a_page_of_frames_finds_its_outputs_by_frame(db: Database) -> None:
    query = select(outputs.c.path).where(outputs.c.frame_id.in_([1, 2, 3]))
    with db.read() as conn:
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        plan = _plan(conn, str(compiled), {})
    assert "ix_outputs_frame_id" in plan, plan


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # the plan cache is PostgreSQL's
def test_the_claims_candidate_query_is_not_planned_again_at_each_claim(db_url: str) -> None:
    """PostgreSQL runs the candidate query on its generic plan, planned once per connection
    once the driver has prepared it: left to choose, it planned a custom plan at every claim on
    a big farm (`candidates.GENERIC_PLAN`)."""
    database = Database(db_url, pool_size=1)  # one connection: its prepared statements
    try:
        upgrade(database)
        params: dict[str, object] = {"key_0": "blender 4.2", "worker_id": 1, "max_failures": 3}
        for _ in range(12):  # the driver prepares a statement at its 5th run
            with database.read() as conn:
                assert candidates.candidate_tasks(1).rows(conn, params) == []
        with database.read() as conn:
            generic, custom = conn.execute(
                text(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE statement LIKE 'WITH running AS%'"
                )
            ).one()
    finally:
        database.dispose()
    assert generic > 0 and custom == 0, (generic, custom)
