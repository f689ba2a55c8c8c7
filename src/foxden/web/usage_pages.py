"""What was used and where events went: your usage, your webhooks' deliveries, and every
account's usage for administrators (farm/usage.py, farm/webhooks.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from foxden.errors import BadRequest
from foxden.farm import usage, webhooks
from foxden.web.auth import PageAccount, require_admin, web_state
from foxden.web.page import PageRoute
from foxden.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

#: the periods the pages offer (the `since` query: an age farm/usage.py reads)
PERIODS = (("", "all time"), ("1d", "last day"), ("7d", "last 7 days"), ("30d", "last 30 days"))


def _since(request: Request) -> tuple[str, float | None, str | None]:
    """The page's period: the `since` asked for, its time, and the error when it is unreadable."""
    given = request.query_params.get("since", "")
    try:
        return given, usage.parse_since(given), None
    except BadRequest as exc:
        return "", None, exc.message


@router.get("/usage")
def my_usage(request: Request, account: PageAccount) -> Response:
    """The account's own usage, per project and per task, with the fee at the farm's rate."""
    farm = web_state(request).farm
    given, since, error = _since(request)
    rate = farm.settings.fee_per_core_hour
    projects = usage.report(
        farm.db, account_id=account.id, since=since, by="project", rate_per_core_hour=rate
    )
    tasks = usage.report(
        farm.db, account_id=account.id, since=since, by="task", rate_per_core_hour=rate, limit=200
    )
    return render(
        request,
        "usage.html",
        account=account,
        title="Usage",
        error=error,
        everyone=False,
        since=given,
        periods=PERIODS,
        rate=rate,
        groups=[("Per project", projects), ("Per task", tasks)],
        total=projects,
    )


@router.get("/admin/usage")
def farm_usage(request: Request, account: PageAccount) -> Response:
    """Every account's usage (administrators), per account and per project."""
    require_admin(account, "see every account's usage")
    farm = web_state(request).farm
    given, since, error = _since(request)
    rate = farm.settings.fee_per_core_hour
    per_account = usage.report(
        farm.db, account_id=None, since=since, by="account", rate_per_core_hour=rate
    )
    per_project = usage.report(
        farm.db, account_id=None, since=since, by="project", rate_per_core_hour=rate
    )
    return render(
        request,
        "usage.html",
        account=account,
        title="Farm usage",
        error=error,
        everyone=True,
        since=given,
        periods=PERIODS,
        rate=rate,
        groups=[("Per account", per_account), ("Per project", per_project)],
        total=per_account,
    )


@router.get("/webhooks")
def my_webhooks(request: Request, account: PageAccount) -> Response:
    """The account's webhooks and their latest deliveries: state, attempts, last answer."""
    farm = web_state(request).farm
    return render(
        request,
        "webhooks.html",
        account=account,
        title="Webhooks",
        hooks=webhooks.list_hooks(farm.db, account.id),
        deliveries=webhooks.deliveries(farm.db, account.id),
    )
