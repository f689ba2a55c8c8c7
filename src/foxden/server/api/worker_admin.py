"""Managing the farm's workers (administrators only): revoke, approve, drain, disable, enable.

The list is `GET /api/workers` (with `approved` and `sandboxed` for each worker).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from foxden.core.states import WorkerMode
from foxden.farm import workers
from foxden.server.api.deps import AdminDep, FarmDep
from foxden.wire.api import WorkerAdminStateOut, WorkerApprovedOut, WorkerRevokedOut
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


@router.post("/{worker_id}/drain")
def drain(worker_id: WorkerId, farm: FarmDep, _admin: AdminDep) -> WorkerAdminStateOut:
    """Let the worker finish the frames it holds and give it no new work (admins only)."""
    return workers.set_admin_state(farm.db, worker_id, WorkerMode.DRAINING)


@router.post("/{worker_id}/disable")
def disable(worker_id: WorkerId, farm: FarmDep, _admin: AdminDep) -> WorkerAdminStateOut:
    """Give the worker no work and put its running frames back in the queue (admins only).

    No attempt is spent; the worker hears its lease is gone at its next heartbeat and stops.
    Its token keeps working: enable it to give it work again.
    """
    return workers.set_admin_state(farm.db, worker_id, WorkerMode.DISABLED)


@router.post("/{worker_id}/enable")
def enable(worker_id: WorkerId, farm: FarmDep, _admin: AdminDep) -> WorkerAdminStateOut:
    """Put a drained or disabled worker back to work (admins only)."""
    return workers.set_admin_state(farm.db, worker_id, WorkerMode.ACTIVE)
