"""The farm's render nodes (administrators only): their state and tallies; draining, disabling,
enabling, revoking and approving them."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from foxden.core.states import WorkerMode, WorkerState
from foxden.errors import Conflict, NotFound
from foxden.farm import workers
from foxden.web.auth import PageAccount, require_admin, web_state
from foxden.web.page import CheckedForm, PageRoute
from foxden.web.templating import redirect, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/workers")
def worker_list(request: Request, account: PageAccount) -> Response:
    """Each worker's state, software, current work and last heartbeat; revoke and approve."""
    require_admin(account, "see the farm's workers")
    return render(
        request,
        "workers.html",
        account=account,
        title="Workers",
        workers=workers.list_workers(web_state(request).farm.db),
        approval_mode=web_state(request).farm.settings.approve_workers,
        revoked=WorkerState.REVOKED.value,
    )


@router.post("/workers/{worker_id}/revoke")
def revoke(worker_id: int, request: Request, account: PageAccount, _form: CheckedForm) -> Response:
    """Take the worker's token away and requeue its running frames."""
    require_admin(account, "see the farm's workers")
    farm = web_state(request).farm
    done = workers.revoke(farm.db, worker_id, farm.tokens)
    return redirect(
        request,
        "/workers",
        f"Worker {worker_id} revoked; {done.released} running frame(s) went back to the queue.",
    )


@router.post("/workers/{worker_id}/approve")
def approve(worker_id: int, request: Request, account: PageAccount, _form: CheckedForm) -> Response:
    """Let a worker waiting for approval take work."""
    require_admin(account, "see the farm's workers")
    farm = web_state(request).farm
    try:
        workers.approve(farm.db, worker_id, farm.tokens)
    except Conflict as exc:
        return redirect(request, "/workers", error=exc.message)
    return redirect(request, "/workers", f"Worker {worker_id} approved: it takes work now.")


MODES = {"drain": WorkerMode.DRAINING, "disable": WorkerMode.DISABLED, "enable": WorkerMode.ACTIVE}


@router.post("/workers/{worker_id}/{action}")
def set_mode(
    worker_id: int, action: str, request: Request, account: PageAccount, _form: CheckedForm
) -> Response:
    """Drain (finish its frames, no new work), disable (no work, its frames back to the queue)
    or enable a worker."""
    require_admin(account, "manage the farm's workers")
    if action not in MODES:
        raise NotFound(f"no action {action!r} for workers")
    try:
        done = workers.set_admin_state(web_state(request).farm.db, worker_id, MODES[action])
    except Conflict as exc:
        return redirect(request, "/workers", error=exc.message)
    notes = {
        "drain": f"Worker {worker_id} drains: it finishes its frames and takes no new work.",
        "disable": (
            f"Worker {worker_id} disabled: it takes no work; "
            f"{done.released} running frame(s) went back to the queue."
        ),
        "enable": f"Worker {worker_id} takes work again.",
    }
    return redirect(request, "/workers", notes[action])
