"""The farm's render nodes (administrators only)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from foxden.errors import Forbidden
from foxden.farm import workers
from foxden.web.auth import PageAccount, web_state
from foxden.web.page import PageRoute
from foxden.web.render import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/workers")
def worker_list(request: Request, account: PageAccount) -> Response:
    """Each worker's state, software, current work and last heartbeat."""
    if not account.is_admin:
        raise Forbidden("Only an administrator can see the farm's workers.")
    return render(
        request,
        "workers.html",
        account=account,
        title="Workers",
        workers=workers.list_workers(web_state(request).farm.db),
    )
