"""Managing the farm's workers (administrators only): revoke a worker, approve a waiting one.

The list is `GET /api/workers` (with `approved` and `sandboxed` for each worker).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from foxden.farm import workers
from foxden.server.api.deps import AdminDep, FarmDep
from foxden.wire.api import WorkerApprovedOut, WorkerRevokedOut
from foxden.wire.fields import MAX_INT32

router = APIRouter(prefix="/api/workers", tags=["accounts"])
WorkerId = Annotated[int, Path(ge=1, le=MAX_INT32, description="the worker's id")]


@router.post("/{worker_id}/revoke")
def revoke(worker_id: WorkerId, farm: FarmDep, _admin: AdminDep) -> WorkerRevokedOut:
    """Take a worker's token away (401 at once) and requeue its running frames (admins only).

    It may join again with the join key: rotate the key first to shut a machine out.
    """
    return workers.revoke(farm.db, worker_id, farm.tokens)


@router.post("/{worker_id}/approve")
def approve(worker_id: WorkerId, farm: FarmDep, _admin: AdminDep) -> WorkerApprovedOut:
    """Let a worker waiting for approval (`--approve-workers`) take work (admins only)."""
    return workers.approve(farm.db, worker_id, farm.tokens)
