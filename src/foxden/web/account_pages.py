"""The farm's accounts (administrators only): trust with the command job type, project rights."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request, Response

from foxden.errors import FoxdenError, NotFound
from foxden.farm import accounts, projects, rights
from foxden.web.auth import PageAccount, require_admin, web_state
from foxden.web.page import CheckedForm, PageRoute, field, safe_next
from foxden.web.templating import redirect, render
from foxden.wire.api import AccountOut

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _url(name: str) -> str:
    return "/accounts/" + quote(name, safe="")


def _account(request: Request, name: str) -> AccountOut:
    for record in accounts.list_accounts(web_state(request).farm.db):
        if record.name == name:
            return record
    raise NotFound(f"No account named {name!r}.")


@router.get("/accounts")
def account_list(request: Request, account: PageAccount) -> Response:
    """Every account: admin, trusted, disabled; Trust and Untrust buttons."""
    require_admin(account, "manage the farm's accounts")
    return render(
        request,
        "accounts.html",
        account=account,
        title="Accounts",
        accounts=accounts.list_accounts(web_state(request).farm.db),
    )


@router.get("/accounts/{name}")
def account_page(name: str, request: Request, account: PageAccount) -> Response:
    """One account: its trust and its projects' sandbox rights."""
    require_admin(account, "manage the farm's accounts")
    record = _account(request, name)
    return render(
        request,
        "account.html",
        account=account,
        title=f"Account {name}",
        record=record,
        projects=projects.list_projects(web_state(request).farm.db, record.id),
        url=_url(name),
    )


@router.post("/accounts/{name}/trust")
def trust(name: str, request: Request, account: PageAccount, form: CheckedForm) -> Response:
    """Trust an account with the command job type, or take that back."""
    require_admin(account, "manage the farm's accounts")
    back = safe_next(field(form, "next"), "/accounts")
    trusted = field(form, "trusted") == "1"
    try:
        record = rights.set_trusted(web_state(request).farm.db, name, trusted)
    except FoxdenError as exc:
        return redirect(request, back, error=exc.message)
    if trusted:
        note = f"{name} is trusted: it may use the command job type."
    else:
        stopped = len(record.stopped_tasks)
        note = f"{name} is no longer trusted with the command job type." + (
            f" {stopped} of its command task(s) stopped." if stopped else ""
        )
    return redirect(request, back, note)


@router.post("/accounts/{name}/projects/{project}/sandbox")
def sandbox(
    name: str, project: str, request: Request, account: PageAccount, form: CheckedForm
) -> Response:
    """Set what renders of a project may do in the sandbox: reach the network, run scripts."""
    require_admin(account, "manage the farm's accounts")
    back = safe_next(field(form, "next"), _url(name))
    try:
        made = rights.set_project_rights(
            web_state(request).farm.db,
            name,
            project,
            allow_network=field(form, "allow_network") == "on",
            allow_scripts=field(form, "allow_scripts") == "on",
        )
    except FoxdenError as exc:
        return redirect(request, back, error=exc.message)
    said = {True: "allowed", False: "not allowed"}
    return redirect(
        request,
        back,
        f"Project {project} of {name}: network {said[made.allow_network]}, "
        f"scripts {said[made.allow_scripts]}.",
    )
