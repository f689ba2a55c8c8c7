"""Who is calling: the web state of the app, session cookies, and the logged-in account."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from foxden.db.engine import Database
from foxden.errors import Forbidden
from foxden.farm import sessions
from foxden.farm.accounts import Account
from foxden.server.context import Farm
from foxden.server.credentials import bearer
from foxden.web import csrf
from foxden.web.session import COOKIE, Sealer, Session, SessionSigner, key_fingerprint, load_secret


class LoginRequired(Exception):
    """The page needs a logged-in account."""


@dataclass
class WebState:
    """What the web site keeps for the app: the farm and the signers (made on first use)."""

    farm: Farm
    _signer: SessionSigner | None = None
    _sealer: Sealer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _load(self) -> None:
        with self._lock:
            if self._signer is None:
                secret = load_secret(self.farm.settings.data_dir)
                self._sealer = Sealer(secret)
                self._signer = SessionSigner(secret)

    @property
    def signer(self) -> SessionSigner:
        """The session signer."""
        if self._signer is None:
            self._load()
        assert self._signer is not None
        return self._signer

    @property
    def sealer(self) -> Sealer:
        """The flash-message sealer."""
        if self._sealer is None:
            self._load()
        assert self._sealer is not None
        return self._sealer


def web_state(request: Request) -> WebState:
    """The web state of the app serving `request`."""
    state: WebState = request.app.state.web
    return state


def load_account(db: Database, session: Session) -> Account | None:
    """The account of a session, unless the session was logged out or ran out, the account is
    gone or disabled, or its key changed since login."""
    return sessions.live_account(
        db,
        session.digest,
        session.account_id,
        lambda key_hash: key_fingerprint(key_hash) == session.key_fingerprint,
    )


def session_of(request: Request) -> Session | None:
    """The verified session of the request (decoded by the middleware), if any."""
    session = getattr(request.state, "web_session", None)
    return session if isinstance(session, Session) else None


def page_account(request: Request) -> Account:
    """The logged-in account of a page request; redirects to the login page otherwise."""
    cached = getattr(request.state, "web_account", None)
    if isinstance(cached, Account):
        return cached
    session = session_of(request)
    account = None if session is None else load_account(web_state(request).farm.db, session)
    if account is None:
        raise LoginRequired()
    request.state.web_account = account
    return account


PageAccount = Annotated[Account, Depends(page_account)]


def require_admin(account: Account, to_do: str) -> None:
    """403 "Only an administrator can <to_do>." for anyone else (the admins' pages)."""
    if not account.is_admin:
        raise Forbidden(f"Only an administrator can {to_do}.")


def _forbidden(message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": "forbidden", "message": message}}, status_code=403)


class SessionMiddleware:
    """Decodes the session cookie; for cookie calls to /api, checks CSRF and sets the account."""

    def __init__(self, app: ASGIApp, web: WebState) -> None:
        self.app = app
        self.web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        token = request.cookies.get(COOKIE)
        session = self.web.signer.decode(token) if token else None
        request.state.web_session = session
        if session is not None and request.url.path.startswith("/api/") and bearer(request) is None:
            if csrf.needs_token(request.method) and not csrf.tokens_match(
                session.csrf, request.headers.get(csrf.HEADER)
            ):
                await _forbidden(
                    "a call with the session cookie that changes something needs the page's "
                    "CSRF token in the X-CSRF-Token header (or use 'Authorization: Bearer <key>')"
                )(scope, receive, send)
                return
            account = await run_in_threadpool(load_account, self.web.farm.db, session)
            if account is not None:
                request.state.account = account
        await self.app(scope, receive, send)
