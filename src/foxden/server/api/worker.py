"""The worker protocol (see docs/worker-protocol.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from foxden.errors import BlobDamaged, NotFound, PayloadTooLarge
from foxden.farm import proofs, scheduler, tasks, workers
from foxden.farm.scheduler import WorkerInfo
from foxden.server.api.deps import FarmDep, WorkerDep, get_farm
from foxden.server.api.responses import binary
from foxden.server.api.worker_routes import (
    LeanRoute,
    body_of,
    claim_waiting,
    failure_policy,
    in_writer,
    json_reply,
    lease_id_of,
    served_by,
    worker_of,
)
from foxden.server.bodies import drain
from foxden.server.context import Farm
from foxden.server.credentials import bearer
from foxden.store.blobs import check_hash
from foxden.wire.fields import MAX_INT32
from foxden.wire.worker import (
    ClaimIn,
    ClaimsOut,
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

router = APIRouter(prefix="/api/worker", tags=["worker"], route_class=LeanRoute)
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


_SERVED_LEAN = "served by its lean handler (worker_routes.LeanRoute): this signature documents it"


async def _claim(request: Request) -> Response:
    farm = get_farm(request)
    worker = await worker_of(request, farm)
    body = await body_of(request, ClaimIn)
    leases = await claim_waiting(request, farm, worker, body, 1)
    if not leases:
        return Response(status_code=204)
    return json_reply(leases[0])  # plain JSON: this is the hot path, nothing to convert


@router.post(
    "/claim",
    response_model=None,
    responses={
        200: {"model": LeaseOut, "description": "A lease on frames of one task."},
        204: {"description": "No work for this worker now: ask again later."},
    },
)
@served_by(_claim)
def claim(body: ClaimIn, worker: WorkerDep) -> Response:
    """Ask for work: 200 with a lease, 204 when there is none for this worker (after waiting
    up to `wait` seconds for some), 403 while the worker waits for an administrator's
    approval, 401 once it is revoked."""
    raise AssertionError(_SERVED_LEAN)


async def _claims(request: Request) -> Response:
    farm = get_farm(request)
    worker = await worker_of(request, farm)
    body = await body_of(request, ClaimIn)
    leases = await claim_waiting(request, farm, worker, body, body.slots)
    if not leases:
        return Response(status_code=204)
    reply: ClaimsOut = {"leases": leases}
    return json_reply(reply)


@router.post(
    "/claims",
    response_model=None,
    responses={
        200: {"model": ClaimsOut, "description": "Up to `slots` leases, each on frames of a task."},
        204: {"description": "No work for this worker now: ask again later."},
    },
)
@served_by(_claims)
def claims(body: ClaimIn, worker: WorkerDep) -> Response:
    """Ask for work for up to `slots` slots at once: 200 with the leases (one chunk each,
    possibly several of one task), 204 when there is none (after waiting up to `wait`
    seconds for some), 403 while the worker waits for approval, 401 once it is revoked."""
    raise AssertionError(_SERVED_LEAN)


async def _heartbeat(request: Request) -> Response:
    farm = get_farm(request)
    worker = await worker_of(request, farm)
    lease_id = lease_id_of(request)
    body = await body_of(request, HeartbeatIn)
    reply = await in_writer(
        farm.db,
        scheduler.heartbeat,
        farm.db,
        worker.id,
        lease_id,
        farm.settings.lease_seconds,
        body.progress,
        body.logs,
    )
    return json_reply(reply)


@router.post("/leases/{lease_id}/heartbeat")
@served_by(_heartbeat)
def heartbeat(lease_id: LeaseId, body: HeartbeatIn, worker: WorkerDep) -> HeartbeatOut:
    """Extend the lease, send progress and logs; the reply says 'continue' or 'stop'."""
    raise AssertionError(_SERVED_LEAN)


def _report_and_claim(farm: Farm, worker: WorkerInfo, lease_id: int, body: ReportIn) -> ReportOut:
    policy = failure_policy(farm)
    if body.claim is None:
        return scheduler.report(farm.db, worker.id, lease_id, body.results, policy=policy)
    # the next work in the report's own write transaction; never held open
    return scheduler.report_and_claim(
        farm.db,
        worker,
        lease_id,
        body.results,
        lease_seconds=farm.settings.lease_seconds,
        heartbeat_seconds=farm.settings.heartbeat_seconds,
        max_frames=body.claim.max_frames,
        slots=body.claim.slots,
        payloads=farm.payloads,
        policy=policy,
    )


async def _report(request: Request) -> Response:
    farm = get_farm(request)
    worker = await worker_of(request, farm)
    lease_id = lease_id_of(request)
    body = await body_of(request, ReportIn)
    if body.key is None:
        reply = await in_writer(farm.db, _report_and_claim, farm, worker, lease_id, body)
    else:  # applied once; a retry gets the same reply (server/replays.py)
        reply = await farm.reports.once(
            (worker.id, lease_id, body.key),
            lambda: in_writer(farm.db, _report_and_claim, farm, worker, lease_id, body),
        )
    return json_reply(reply)


@router.post(
    "/leases/{lease_id}/frames",
    response_model=None,
    responses={200: {"model": ReportOut, "description": "The frames taken and those refused."}},
)
@served_by(_report)
def report(lease_id: LeaseId, body: ReportIn, worker: WorkerDep) -> Response:
    """Report frames done (outputs uploaded first, for this lease) or failed; with `claim`,
    ask for the next work in the same request (the reply's `leases`, [] when there is none;
    never held open). With `key`, a report sent again gets the first one's reply.

    422 naming the frame, nothing of the report applied, if an output or thumbnail is not a
    blob this worker uploaded for this lease or its size is not the uploaded size.
    """
    raise AssertionError(_SERVED_LEAN)


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
