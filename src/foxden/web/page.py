"""What every page route shares: HTML errors, CSRF-checked forms, form fields."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.datastructures import FormData

from foxden.errors import Forbidden, FoxdenError
from foxden.farm.accounts import Account
from foxden.web import csrf
from foxden.web.auth import LoginRequired, session_of
from foxden.web.templating import render


def error_page(request: Request, status: int, message: str) -> Response:
    """A page that says what went wrong."""
    account = getattr(request.state, "web_account", None)
    titles = {403: "Not allowed", 404: "Not found", 409: "Not possible now"}
    return render(
        request,
        "error.html",
        account=account if isinstance(account, Account) else None,
        status=status,
        title=titles.get(status, "Something went wrong"),
        message=message,
    )


class PageRoute(APIRoute):
    """A route of the web site: login redirects and foxden errors become pages, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                target = "/login"
                if request.method == "GET" and request.url.path not in ("/", "/login"):
                    target += "?next=" + quote(
                        request.url.path + ("?" + request.url.query if request.url.query else ""),
                        safe="",
                    )
                return RedirectResponse(target, status_code=303)
            except FoxdenError as exc:
                return error_page(request, exc.status_code, exc.message)

        return page_handler


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token is shown to be this session's."""
    form = await request.form()
    session = session_of(request)
    presented = form.get(csrf.FIELD)
    if session is None or not csrf.tokens_match(
        session.csrf, presented if isinstance(presented, str) else None
    ):
        raise Forbidden(
            "this form is out of date or did not come from this site: reload the page and try again"
        )
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def field(form: FormData, name: str, default: str = "") -> str:
    """A text field of a form, stripped."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else default


def safe_next(target: str | None, default: str = "/tasks") -> str:
    """A local path to go to after login (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
