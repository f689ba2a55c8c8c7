"""Turning templates into responses: the Jinja environment, filters, cookies and flash notes."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from foxden import __version__
from foxden.farm import sessions
from foxden.farm.accounts import Account
from foxden.web.auth import session_of, web_state
from foxden.web.session import COOKIE, LIFETIME

FLASH_COOKIE = "foxden_flash"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def _when(stamp: float | None) -> str:
    if not stamp:
        return ""
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(stamp: float | None) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat() if stamp else ""


def _ago(stamp: float | None) -> str:
    if not stamp:
        return "never"
    seconds = max(0, int(time.time() - stamp))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def size_text(n: int | None) -> str:
    """A byte count as people read it: `512 B`, `1.5 MiB`."""
    value = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(when=_when, iso=_iso, ago=_ago, duration=_duration, size=size_text)


def is_https(request: Request) -> bool:
    """Whether the browser reached us over HTTPS (directly or through a proxy that says so)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def set_cookie(
    response: Response,
    request: Request,
    name: str,
    value: str,
    *,
    max_age: int,
    samesite: Literal["lax", "strict"] = "lax",
) -> None:
    """Set an HttpOnly cookie, Secure when the page came over HTTPS."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        secure=is_https(request),
        samesite=samesite,
    )


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    """Put a session token in the session cookie."""
    set_cookie(response, request, COOKIE, token, max_age=int(LIFETIME))


def flash(response: Response, request: Request, text: str, *, error: bool = False) -> None:
    """Show `text` as a note (or an error) on the next page rendered."""
    sealed = web_state(request).sealer.seal(("e:" if error else "i:") + text[:500])
    set_cookie(response, request, FLASH_COOKIE, sealed, max_age=120, samesite="strict")


def redirect(
    request: Request, url: str, note: str | None = None, *, error: str | None = None
) -> RedirectResponse:
    """A 303 redirect (after a form POST), with an optional note or error for the next page."""
    response = RedirectResponse(url, status_code=303)
    if note:
        flash(response, request, note)
    if error:
        flash(response, request, error, error=True)
    return response


def render(
    request: Request,
    template: str,
    *,
    account: Account | None = None,
    status: int = 200,
    error: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render a page: base context (account, CSRF token, flash note), headers, session renewal."""
    session = session_of(request)
    sealed = web_state(request).sealer.unseal(request.cookies.get(FLASH_COOKIE)) or ""
    note = sealed[2:] if sealed.startswith("i:") else None
    if sealed.startswith("e:") and error is None:
        error = sealed[2:]
    html = ENV.get_template(template).render(
        request=request,
        account=account,
        csrf_token=session.csrf if session and account else "",
        note=note,
        error=error,
        version=__version__,
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/")
    if session is not None and account is not None and session.due_for_renewal():
        token, fresh = web_state(request).signer.renew(session)
        sessions.extend(web_state(request).farm.db, fresh.digest, fresh.expires)
        set_session_cookie(response, request, token)
    return response
