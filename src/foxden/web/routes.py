"""The web site's entry point: `install(app)` adds the pages, static files and session cookies."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from foxden.web import (
    account_pages,
    limit_pages,
    login_pages,
    project_pages,
    task_pages,
    usage_pages,
    worker_pages,
)
from foxden.web.auth import SessionMiddleware, WebState

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Serve the web site from `app` (whose `state.farm` is the farm)."""
    web = WebState(app.state.farm)
    app.state.web = web
    app.add_middleware(SessionMiddleware, web=web)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    modules = (
        login_pages,
        project_pages,
        task_pages,
        worker_pages,
        account_pages,
        usage_pages,
        limit_pages,
    )
    for module in modules:
        app.include_router(module.router)
    app.add_api_route("/favicon.ico", _favicon, include_in_schema=False)


def _favicon() -> RedirectResponse:
    """Browsers ask for /favicon.ico; ours is an SVG."""
    return RedirectResponse("/static/favicon.svg", status_code=301)
