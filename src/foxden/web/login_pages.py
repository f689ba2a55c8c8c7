"""Logging in with an account name and access key, and logging out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from foxden.errors import Forbidden, TooManyRequests, Unauthorized
from foxden.farm import accounts, sessions
from foxden.farm.accounts import Account
from foxden.farm.secrets import hash_secret
from foxden.server.logins import client_address
from foxden.web import csrf
from foxden.web.auth import LoginRequired, PageAccount, page_account, session_of, web_state
from foxden.web.page import PageRoute, checked_form, field, safe_next
from foxden.web.session import COOKIE, key_fingerprint
from foxden.web.templating import redirect, render, set_cookie, set_session_cookie

router = APIRouter(route_class=PageRoute, include_in_schema=False)
LOGIN_TOKEN_SECONDS = 3600


def _logged_in(request: Request) -> Account | None:
    try:
        return page_account(request)
    except LoginRequired:
        return None


def _login_form(
    request: Request, *, error: str | None = None, status: int = 200, name: str = ""
) -> Response:
    token = request.cookies.get(csrf.LOGIN_COOKIE) or ""
    if not 20 <= len(token) <= 100:
        token = csrf.new_token()
    response = render(
        request,
        "login.html",
        status=status,
        error=error,
        login_csrf=token,
        name=name,
        next=safe_next(request.query_params.get("next"), ""),
        title="Log in",
    )
    set_cookie(
        response, request, csrf.LOGIN_COOKIE, token, max_age=LOGIN_TOKEN_SECONDS, samesite="strict"
    )
    return response


@router.get("/")
def home(_account: PageAccount) -> RedirectResponse:
    """The task list is the home page."""
    return RedirectResponse("/tasks", status_code=303)


@router.get("/login")
def login_page(request: Request) -> Response:
    """The login form (or on to the tasks when already logged in)."""
    if _logged_in(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    return _login_form(request)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the account name and access key; open a session."""
    form = await request.form()
    name = field(form, "account")
    key = field(form, "access_key")
    presented = form.get(csrf.FIELD)
    if not csrf.tokens_match(
        request.cookies.get(csrf.LOGIN_COOKIE), presented if isinstance(presented, str) else None
    ):
        return _login_form(
            request,
            status=403,
            name=name,
            error="The login form expired or did not come from this site. Try again.",
        )
    if not name or not key:
        return _login_form(
            request,
            status=400,
            name=name,
            error="Enter both your account name and your access key.",
        )
    farm = web_state(request).farm
    address = client_address(request)

    def check() -> Account:
        farm.logins.check(address, name)
        try:
            with farm.db.read() as conn:
                account = accounts.authenticate(conn, key, name)
        except Unauthorized:
            farm.logins.failed(address, name)
            raise
        accounts.touch_login(farm.db, account)
        return account

    try:
        account = await run_in_threadpool(check)
    except TooManyRequests as exc:
        response = _login_form(
            request,
            status=429,
            name=name,
            error=f"Too many failed logins: try again in {exc.retry_after} seconds.",
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Unauthorized:
        return _login_form(
            request,
            status=401,
            name=name,
            error="Wrong account name or access key. Check both and try again.",
        )
    except Forbidden as exc:
        return _login_form(request, status=403, name=name, error=exc.message)
    token, session = web_state(request).signer.issue(account.id, key_fingerprint(hash_secret(key)))
    await run_in_threadpool(
        sessions.open_session, farm.db, account.id, session.digest, session.expires
    )
    response = redirect(request, safe_next(field(form, "next")), f"Welcome, {account.name}.")
    set_session_cookie(response, request, token)
    response.delete_cookie(csrf.LOGIN_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session, on the server too: its cookie opens nothing any more (a session that
    already ended needs no token)."""
    session = session_of(request)
    if session is not None:
        await checked_form(request)
        await run_in_threadpool(sessions.revoke, web_state(request).farm.db, session.digest)
    response = redirect(request, "/login", "You are logged out.")
    response.delete_cookie(COOKIE, path="/")
    return response
