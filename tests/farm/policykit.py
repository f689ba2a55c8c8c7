"""A farm for the scheduling-policy tests: several trusted accounts, each with a project and a
scene uploaded, workers registered, the scheduler called directly with the clock given."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from foxden.db.schema import workers
from foxden.farm import files, projects, scheduler, tasks
from foxden.farm import workers as farm_workers
from foxden.farm.accounts import create_account
from foxden.farm.failure_memory import DEFAULT, FailurePolicy
from foxden.farm.rights import set_trusted
from foxden.server.context import Farm
from foxden.wire.api import FileEntry, PluginConfigIn
from foxden.wire.worker import FrameResult, LeaseOut, WorkerRegister
from tests.conftest import farm_settings

T0 = 1_000_000.0
LEASE = 30.0
COMMAND = [{"name": "command", "version": "1"}]


@dataclass
class PolicyFarm:
    """A farm with accounts by name; submit, claim and report as they would."""

    farm: Farm
    accounts: dict[str, int] = field(default_factory=dict)

    def account(self, name: str) -> int:
        if name not in self.accounts:
            account_id = create_account(self.farm.db, name)[0].id
            set_trusted(self.farm.db, name, True)
            projects.create_project(
                self.farm.db, account_id, "proj", configs=[PluginConfigIn(cg_soft_name="command 1")]
            )
            digest = hashlib.sha256(b"x").hexdigest()
            self.farm.store.put_whole(b"x", digest)
            files.adopt_blob(self.farm.db, account_id, digest, 1)
            files.commit(
                self.farm.db, account_id, [FileEntry(path="/v/p/scene.txt", size=1, hash=digest)]
            )
            self.accounts[name] = account_id
        return self.accounts[name]

    def submit(self, account: str, frames: str, **fields: Any) -> int:
        request = {"project_name": "proj", "input_scene_path": "/v/p/scene.txt", "frames": frames}
        return tasks.submit(
            self.farm.db,
            self.farm.store,
            self.account(account),
            {**request, **fields},
            default_chunk=1,
            default_attempts=3,
        ).id

    def worker(self, name: str = "w") -> scheduler.WorkerInfo:
        key = self.farm.join_key
        info = WorkerRegister.model_validate({"name": name, "software": COMMAND})
        worker_id = farm_workers.register(self.farm.db, key, key, info)["worker_id"]
        with self.farm.db.read() as conn:
            row = conn.execute(
                select(workers.c.software_keys, workers.c.tags).where(workers.c.id == worker_id)
            ).one()
        return scheduler.WorkerInfo(worker_id, tuple(row.software_keys), frozenset(row.tags))

    def claim(
        self, worker: scheduler.WorkerInfo, policy: FailurePolicy = DEFAULT, **kw: Any
    ) -> LeaseOut | None:
        return scheduler.claim(
            self.farm.db, worker, LEASE, heartbeat_seconds=10.0, now=T0, policy=policy, **kw
        )

    def report(
        self,
        worker: scheduler.WorkerInfo,
        lease: LeaseOut,
        status: str = "done",
        policy: FailurePolicy = DEFAULT,
    ) -> None:
        results = [
            FrameResult(frame=f, status=status, error="" if status == "done" else "crashed")
            for f in lease["frames"]
        ]
        scheduler.report(self.farm.db, worker.id, lease["lease_id"], results, policy=policy)

    def task(self, account: str, task_id: int) -> dict[str, Any]:
        record = tasks.get_task(self.farm.db, self.accounts[account], task_id, with_frames=True)
        return record.model_dump()


@pytest.fixture(name="policy_farm")
def policy_farm_fixture(db_url: str, tmp_path: Path) -> Iterator[PolicyFarm]:
    farm = Farm.open(farm_settings(db_url, tmp_path))
    try:
        made = PolicyFarm(farm)
        made.worker("seed")  # the software on offer
        yield made
    finally:
        farm.close()
