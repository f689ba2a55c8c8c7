"""The farm's named limits (administrators only): each limit's maximum, what runs under it
now and the tasks taking it; set one (new or changed) and remove one."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from foxden.errors import FoxdenError
from foxden.farm import limits
from foxden.web.auth import PageAccount, require_admin, web_state
from foxden.web.page import CheckedForm, PageRoute, field
from foxden.web.templating import redirect, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/limits")
def limit_list(request: Request, account: PageAccount) -> Response:
    """Every limit with its maximum, running frames and tasks; a form to set one."""
    require_admin(account, "manage the farm's limits")
    return render(
        request,
        "limits.html",
        account=account,
        title="Limits",
        limits=limits.list_limits(web_state(request).farm.db),
    )


@router.post("/limits")
def set_limit(request: Request, account: PageAccount, form: CheckedForm) -> Response:
    """Create or change a limit from the form (name, maximum)."""
    require_admin(account, "manage the farm's limits")
    name = field(form, "name").strip()
    raw = field(form, "max_running").strip()
    try:
        maximum = int(raw)
    except ValueError:
        return redirect(
            request, "/limits", error=f"The maximum is a whole number of frames, not {raw!r}."
        )
    try:
        made = limits.set_limit(web_state(request).farm.db, name, maximum)
    except FoxdenError as exc:
        return redirect(request, "/limits", error=exc.message)
    return redirect(
        request, "/limits", f"Limit {made.name}: at most {made.max_running} frames at once."
    )


@router.post("/limits/{name}/remove")
def remove_limit(name: str, request: Request, account: PageAccount, _form: CheckedForm) -> Response:
    """Remove a limit; its tasks and projects no longer take it."""
    require_admin(account, "manage the farm's limits")
    try:
        limits.remove_limit(web_state(request).farm.db, name)
    except FoxdenError as exc:
        return redirect(request, "/limits", error=exc.message)
    return redirect(request, "/limits", f"Limit {name} removed: its tasks no longer take it.")
