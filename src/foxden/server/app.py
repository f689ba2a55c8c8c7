"""The FastAPI application factory."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.types import Receive, Scope, Send

from foxden import __version__
from foxden.errors import QUOTE_LIMIT, FoxdenError, StorageFull, TooManyRequests, cut
from foxden.farm.workers import queue_depth
from foxden.server import guards
from foxden.server.api import (
    accounts,
    files,
    policy,
    projects,
    tasks,
    vendor,
    worker,
    worker_admin,
)
from foxden.server.api import usage as usage_api
from foxden.server.api import webhooks as webhooks_api
from foxden.server.api.worker_routes import FastLane, fast_lane
from foxden.server.bodies import BodyLimit, caps
from foxden.server.context import Farm
from foxden.server.rayvision.router import router as rayvision_router
from foxden.web.routes import install as install_web
from foxden.wire.api import HealthOut, QueueDepthOut

log = logging.getLogger("foxden.server")


def freeze_startup_objects() -> None:
    """Move what the process made so far (modules, the app, its routes and models: hundreds of
    thousands of objects that live as long as the server) out of the garbage collector's
    reach: a full collection then walks only what requests make. A list of 10,000 tasks made
    about 40 ms of full collections without it. Call once, in a process that is the server
    (`foxden serve`, `foxden up`), after the app is built."""
    gc.collect()
    gc.freeze()


def create_app(farm: Farm, *, start_background: bool = True) -> FastAPI:
    """The farm server app for `farm` (the reaper thread runs while the app is up)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if start_background:
            farm.start_reaper()
        yield
        farm.close()

    app = FarmApp(
        title="foxden",
        version=__version__,
        lifespan=lifespan,
        description="A self-hostable render farm with a Renderbus-compatible API.",
        docs_url=None,  # the interactive docs pages load scripts from the internet: a farm may have none
        redoc_url=None,
    )
    app.state.farm = farm

    @app.exception_handler(FoxdenError)
    async def _foxden_error(_request: Request, exc: FoxdenError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p)[:QUOTE_LIMIT] for p in e['loc'] if p != 'body')}: "
            f"{str(e['msg'])[:QUOTE_LIMIT]}"
            for e in exc.errors()[:10]
        )
        return JSONResponse(
            {"error": {"code": "bad_request", "message": cut(problems) or "invalid request"}},
            status_code=422,
        )

    @app.exception_handler(OperationalError)
    async def _database_error(_request: Request, exc: OperationalError) -> JSONResponse:
        if _disk_full(exc):
            log.error("the database's storage is full: %s", cut(str(exc.orig), 200))
            return error_response(StorageFull())
        log.error("database error", exc_info=exc)
        return error_response(FoxdenError("the farm's database failed: try again later"))

    @app.get("/healthz", tags=["meta"])
    def healthz() -> HealthOut:
        """Liveness."""
        return HealthOut(ok=True, version=__version__)

    @app.get("/metrics", tags=["meta"])
    def metrics() -> QueueDepthOut:
        """Queue depth, for autoscalers."""
        return QueueDepthOut.model_validate(queue_depth(farm.db))

    for router in (
        accounts.router,
        projects.router,
        files.router,
        tasks.router,
        worker.router,
        worker_admin.router,
        policy.router,
        webhooks_api.router,
        usage_api.router,
        vendor.router,
        rayvision_router,
    ):
        app.include_router(router)
    install_web(app)
    guards.install(app)
    cap_for = caps(farm.settings)
    app.add_middleware(BodyLimit, cap_for=cap_for)
    app.lane = fast_lane(worker.router, cap_for)  # the worker's hot routes
    return app


class FarmApp(FastAPI):
    """The farm's app: a request for one of the worker protocol's hot routes is served by its
    `FastLane` ahead of the middleware stack and the routing (each layer costs every request;
    a busy farm's requests are mostly these); every other request goes through them."""

    lane: FastLane | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.lane
        if lane is not None and scope["type"] == "http":
            matched = lane.match(scope)
            if matched is not None:
                scope["app"] = self
                scope.update(matched[1])
                await lane.serve(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def error_response(exc: FoxdenError) -> JSONResponse:
    """The JSON reply of a foxden error (with WWW-Authenticate or Retry-After where due)."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else {}
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse(
        {"error": {"code": exc.code, "message": exc.message}},
        status_code=exc.status_code,
        headers=headers or None,
    )


def _disk_full(exc: OperationalError) -> bool:
    """Whether the database refused a write for want of disk space (SQLite or PostgreSQL)."""
    return "disk is full" in str(exc.orig) or getattr(exc.orig, "sqlstate", None) == "53100"
