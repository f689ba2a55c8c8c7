"""The worker protocol (see docs/worker-protocol.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from foxden.errors import BlobDamaged, NotFound, PayloadTooLarge
from foxden.farm import proofs, scheduler, tasks, workers
from foxden.farm.failure_memory import FailurePolicy
from foxden.server.api.deps import FarmDep, WorkerDep
from foxden.server.api.responses import binary
from foxden.server.bodies import drain
from foxden.server.context import Farm
from foxden.server.credentials import bearer
from foxden.store.blobs import check_hash
from foxden.wire.fields import MAX_INT32
from foxden.wire.worker import (
    ClaimIn,
    HeartbeatIn,
    HeartbeatOut,
    LeaseOut,
    RegisteredOut,
    ReleasedOut,
    ReportIn,
    ReportOut,
    UploadedOut,
    WorkerRegister,
)

router = APIRouter(prefix="/api/worker", tags=["worker"])
LeaseId = Annotated[int, Path(ge=1, le=MAX_INT32, description="a lease of this worker")]


@router.post("/register", status_code=201)
def register(body: WorkerRegister, request: Request, farm: FarmDep) -> RegisteredOut:
    """Join the farm with the join key (as bearer token); returns this worker's own token."""
    reply = workers.register(
        farm.db,
        farm.join_key,
        bearer(request),
        body,
        approved=not farm.settings.approve_workers,
    )
    return RegisteredOut(
        worker_id=reply["worker_id"],
        token=reply["token"],
        approved=reply["approved"],
        heartbeat_seconds=farm.settings.heartbeat_seconds,
        lease_seconds=farm.settings.lease_seconds,
    )


@router.post(
    "/claim",
    response_model=None,
    responses={
        200: {"model": LeaseOut, "description": "A lease on frames of one task."},
        204: {"description": "No work for this worker now: ask again later."},
    },
)
def claim(body: ClaimIn, farm: FarmDep, worker: WorkerDep) -> Response:
    """Ask for work: 200 with a lease, 204 when there is none for this worker, 403 while the
    worker waits for an administrator's approval, 401 once it is revoked."""
    lease = scheduler.claim(
        farm.db,
        worker,
        farm.settings.lease_seconds,
        body.max_frames,
        heartbeat_seconds=farm.settings.heartbeat_seconds,
        payloads=farm.payloads,
        policy=_failure_policy(farm),
    )
    if lease is None:
        return Response(status_code=204)
    return JSONResponse(lease)  # plain JSON: this is the hot path, nothing to convert


@router.post("/leases/{lease_id}/heartbeat")
def heartbeat(
    lease_id: LeaseId, body: HeartbeatIn, farm: FarmDep, worker: WorkerDep
) -> HeartbeatOut:
    """Extend the lease, send progress and logs; the reply says 'continue' or 'stop'."""
    return scheduler.heartbeat(
        farm.db, worker.id, lease_id, farm.settings.lease_seconds, body.progress, body.logs
    )


@router.post(
    "/leases/{lease_id}/frames",
    response_model=None,
    responses={200: {"model": ReportOut, "description": "The frames taken and those refused."}},
)
def report(lease_id: LeaseId, body: ReportIn, farm: FarmDep, worker: WorkerDep) -> Response:
    """Report frames done (outputs uploaded first, for this lease) or failed.

    422 naming the frame, nothing of the report applied, if an output or thumbnail is not a
    blob this worker uploaded for this lease or its size is not the uploaded size.
    """
    return JSONResponse(
        scheduler.report(farm.db, worker.id, lease_id, body.results, policy=_failure_policy(farm))
    )


def _failure_policy(farm: Farm) -> FailurePolicy:
    """The server's settings of failure memory (farm/failure_memory.py)."""
    settings = farm.settings
    return FailurePolicy(
        task_failures=settings.worker_task_failures,
        flag_streak=settings.worker_failure_streak,
        disable_flagged=settings.disable_flagged_workers,
    )


@router.post("/leases/{lease_id}/release")
def release(lease_id: LeaseId, farm: FarmDep, worker: WorkerDep) -> ReleasedOut:
    """Give the lease's unfinished frames back to the queue, no attempt spent."""
    return ReleasedOut(released=scheduler.release(farm.db, worker.id, lease_id))


@router.post("/sign-off")
def sign_off(farm: FarmDep, worker: WorkerDep) -> ReleasedOut:
    """Leave the farm: every running frame of this worker goes back to the queue."""
    released = scheduler.release(farm.db, worker.id)
    workers.sign_off(farm.db, worker.id)
    return ReleasedOut(released=released)


@router.get(
    "/blobs/{digest}",
    response_class=FileResponse,
    responses=binary("The input's bytes."),
)
def read_input(digest: str, farm: FarmDep, worker: WorkerDep) -> FileResponse:
    """An input of the work this worker holds (nothing else)."""
    check_hash(digest)
    name = tasks.held_input(farm.db, worker.id, digest)
    if name is None:
        raise NotFound("not an input of any work you hold")
    try:
        path = farm.store.intact_path(digest)
    except BlobDamaged:  # quarantined and logged; 404 makes the worker fail the frames at once
        raise NotFound(
            f"input {name} is damaged on the farm (its stored copy failed its hash "
            "check and was put aside): upload it again, then restart the task"
        ) from None
    if path is None:
        raise NotFound("not an input of any work you hold")
    return FileResponse(path, media_type="application/octet-stream")


@router.put("/blobs/{digest}")
async def upload_output(
    digest: str,
    request: Request,
    farm: FarmDep,
    worker: WorkerDep,
    lease: Annotated[int, Query(ge=1, le=MAX_INT32, description="the lease it is an output of")],
) -> UploadedOut:
    """Upload an output (or thumbnail) of a live lease of this worker, verified against its hash.

    The body is streamed to disk while hashed, at most `max_blob_bytes` (413 beyond). Only a
    blob uploaded for a lease may be named in that lease's frame reports.
    """
    check_hash(digest)
    await run_in_threadpool(proofs.check_lease, farm.db, worker.id, lease)
    limit = farm.settings.max_blob_bytes
    declared = request.headers.get("content-length", "")
    try:
        if declared.isdigit() and int(declared) > limit:  # refused unread: drained, not stored
            raise PayloadTooLarge(
                f"upload of {digest} is larger than {limit} bytes, the most it may hold"
            )
        size = await farm.store.receive_stream(request.stream(), digest, limit=limit)
    except PayloadTooLarge:
        await drain(request.stream())
        raise
    await run_in_threadpool(proofs.record_upload, farm.db, worker.id, lease, digest, size)
    return UploadedOut(hash=digest, size=size, lease=lease)
