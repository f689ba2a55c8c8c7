"""The lean serving of the worker protocol's hot routes (claim, claims, heartbeat, report).

A render node calls these several times a second, so each request is served by a plain async
handler instead of FastAPI's dependency solving: the worker's token is checked in the token
cache on the event loop (the database only on a miss, in the thread pool), the body is parsed
by its pydantic model directly, all database work is one call on the database's writer
thread (`in_writer`, db/serial.py), and the reply is JSON written
once. The routes keep their FastAPI declarations, which document them (docs/openapi.json):
`LeanRoute` serves a declared route with the handler `served_by` names. Bad bodies and paths
get the same 422 as every other route (`RequestValidationError`). `FastLane` serves these
routes ahead of the app's middleware stack and its ~150 other routes, behind the same body
caps and exception handlers.

A claim may wait for work (`ClaimIn.wait`, long poll, `claim_waiting`): it holds no thread and
no database connection while it waits on the farm's `WorkSignal`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from pydantic_core import to_json
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from foxden.db.engine import Database
from foxden.farm import scheduler, wakeups, workers
from foxden.farm.failure_memory import FailurePolicy
from foxden.farm.scheduler import WorkerInfo
from foxden.farm.secrets import hash_secret
from foxden.server.bodies import BodyLimit, CapFor
from foxden.server.context import Farm
from foxden.server.credentials import bearer
from foxden.wire.fields import MAX_INT32
from foxden.wire.worker import ClaimIn, LeaseOut

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
M = TypeVar("M", bound=BaseModel)
E = TypeVar("E", bound=Callable[..., Any])
T = TypeVar("T")

#: seconds between the checks of a waiting claim's worker (revoked meanwhile: 401)
STANDING_EVERY = 5.0

log = logging.getLogger("foxden.server")

_LEASE_ID: TypeAdapter[int] = TypeAdapter(Annotated[int, Field(ge=1, le=MAX_INT32)])


class LeanRoute(APIRoute):
    """A route served by the handler its endpoint names with `served_by`, if any; the endpoint's
    signature still documents it (OpenAPI)."""

    def get_route_handler(self) -> Handler:
        lean: Handler | None = getattr(self.endpoint, "lean_handler", None)
        return lean if lean is not None else super().get_route_handler()


class FastLane:
    """The lean routes of a router, served ahead of the app's middleware and routing.

    The app (`server/app.py`, `FarmApp`) asks `match` for each HTTP request; a request whose
    path starts with `prefix` and fully matches a lean route (path and method) is served by
    `serve`: its body capped as every body is (`BodyLimit`), the route's lean handler called,
    an exception answered by the app's own exception handlers (422, 401, 413, ...), 500 for
    one no handler takes. Anything else (another route, a wrong method: 405) goes through the
    app as before. The lane skips what a worker call has no use for: the web session's
    cookie middleware (a worker authenticates with its bearer token), FastAPI's dependency
    exit stack and its telemetry."""

    def __init__(self, prefix: str, routes: Sequence[APIRoute], cap_for: CapFor) -> None:
        self.prefix = prefix
        self.routes = list(routes)
        self._capped = BodyLimit(self._handle, cap_for)

    def match(self, scope: Scope) -> tuple[APIRoute, Scope] | None:
        """The lean route an HTTP request's scope fully matches, with its path parameters."""
        if scope["path"].startswith(self.prefix):
            for route in self.routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    return route, child_scope
        return None

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a request `match` matched (`scope` holds the app and the route's scope)."""
        await self._capped(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        handler: Handler = scope["endpoint"].lean_handler
        try:
            response = await handler(request)
        except Exception as exc:
            response = await _answer(request, exc)
        await response(scope, receive, send)


async def _answer(request: Request, exc: Exception) -> Response:
    """The app's reply to `exc` from its exception handlers, as its middleware would give it;
    500 (logged) when none takes it."""
    handlers = request.app.exception_handlers
    for kind in type(exc).__mro__:
        found = handlers.get(kind)
        if found is not None:
            response: Response = await found(request, exc)
            return response
    log.error("Exception in ASGI application", exc_info=exc)
    return PlainTextResponse("Internal Server Error", status_code=500)


def fast_lane(router: APIRouter, cap_for: CapFor) -> FastLane:
    """A `FastLane` of the routes of `router` served by a lean handler (`served_by`)."""
    lean = [
        r
        for r in router.routes
        if isinstance(r, APIRoute) and getattr(r.endpoint, "lean_handler", None) is not None
    ]
    return FastLane(router.prefix + "/", lean, cap_for)


def json_reply(content: object) -> Response:
    """A JSON reply written by pydantic's serializer (a fifth of the standard library's cost;
    the same bytes: compact, UTF-8)."""
    return Response(to_json(content, inf_nan_mode="null"), media_type="application/json")


async def in_writer(db: Database, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` for a hot route, on the database's writer thread, committed with the calls
    waiting beside it (db/serial.py)."""
    return await db.serial.call(fn, *args)


def served_by(handler: Handler) -> Callable[[E], E]:
    """Mark a declared endpoint as served by `handler` (see `LeanRoute`)."""

    def mark(endpoint: E) -> E:
        endpoint.lean_handler = handler  # type: ignore[attr-defined]
        return endpoint

    return mark


async def worker_of(request: Request, farm: Farm) -> WorkerInfo:
    """The worker whose token is the bearer token: from the token cache when it was checked
    a few seconds ago, else read in the thread pool (`workers.authenticate`)."""
    token = bearer(request)
    if token:
        cached = farm.tokens.get(hash_secret(token))
        if cached is not None:
            return cached
    return await run_in_threadpool(workers.authenticate, farm.db, token, farm.tokens)


async def body_of(request: Request, model: type[M]) -> M:
    """The request's JSON body as `model` (422 as FastAPI words it when it is not one)."""
    raw = await request.body()
    if not raw:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise _invalid("body", exc) from None


def lease_id_of(request: Request) -> int:
    """The `{lease_id}` of the path: a lease number (422 otherwise)."""
    try:
        return _LEASE_ID.validate_python(request.path_params["lease_id"])
    except ValidationError as exc:
        raise _invalid("path", exc, "lease_id") from None


def _invalid(where: str, exc: ValidationError, *names: str) -> RequestValidationError:
    return RequestValidationError(
        [
            {**e, "loc": (where, *names, *e["loc"])}
            for e in exc.errors(include_url=False, include_context=False)
        ]
    )


def failure_policy(farm: Farm) -> FailurePolicy:
    """The server's settings of failure memory (farm/failure_memory.py)."""
    settings = farm.settings
    return FailurePolicy(
        task_failures=settings.worker_task_failures,
        flag_streak=settings.worker_failure_streak,
        disable_flagged=settings.disable_flagged_workers,
    )


def claim_now(
    farm: Farm, worker: WorkerInfo, body: ClaimIn, slots: int, looked: scheduler.Looked | None
) -> list[LeaseOut]:
    """Up to `slots` leases for `worker` now, without waiting (on the writer thread), going
    on from what `scheduler.look` read."""
    return scheduler.claim_many(
        farm.db,
        worker,
        farm.settings.lease_seconds,
        body.max_frames,
        slots=slots,
        heartbeat_seconds=farm.settings.heartbeat_seconds,
        payloads=farm.payloads,
        policy=failure_policy(farm),
        looked=looked,
    )


async def claim_once(
    farm: Farm, worker: WorkerInfo, body: ClaimIn, slots: int
) -> tuple[list[LeaseOut], bool]:
    """A claim that does not wait: its read in the thread pool, where many run at once; its
    write on the writer thread, only when there is something to take or the worker's
    `last_seen` is due (`scheduler.look`). Its leases, and whether it found nothing for any
    worker of its kind either (`scheduler.Looked.for_anyone`)."""
    if slots < 1:
        return [], False
    looked = await run_in_threadpool(scheduler.look, farm.db, worker, failure_policy(farm))
    if not looked.due:
        return [], looked.for_anyone
    leases = await in_writer(farm.db, claim_now, farm, worker, body, slots, looked)
    return leases, looked.for_anyone  # only ever true with nothing eligible, so no leases


async def claim_waiting(
    request: Request, farm: Farm, worker: WorkerInfo, body: ClaimIn, slots: int
) -> list[LeaseOut]:
    """Claim up to `slots` leases; when there is no work and the claim may wait, hold it open
    up to min(`body.wait`, `claim_wait_seconds`) and claim again each time work appears.

    The signal's generation is read before each query, so work committed during the query
    wakes the wait at once; a claim while nothing appeared since the worker's last empty one
    is answered without a query (`wakeups.IdleMemo`). A woken claim that gets work passes the turn to the next waiter
    (`farm.wakeups`). [] at the timeout, or when the client went away; every
    `STANDING_EVERY` seconds the worker's token is checked again (401 once it is revoked).
    """
    signal = wakeups.signal_of(farm.db)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(body.wait, farm.settings.claim_wait_seconds)
    woken = False
    gone: asyncio.Task[None] | None = None
    try:
        while True:
            generation = signal.generation
            if signal.idle.still_nothing(worker.id, worker, generation, loop.time()):
                leases: list[LeaseOut] = []  # nothing new since its last empty claim (IdleMemo)
            else:
                leases, for_anyone = await claim_once(farm, worker, body, slots)
                if not leases:
                    signal.idle.found_nothing(
                        worker.id, worker, generation, loop.time(), for_anyone=for_anyone
                    )
            if leases:
                signal.idle.forget(worker.id)
                if woken:
                    wakeups.work_appeared(farm.db, 1)
                return leases
            woken = False
            while not woken:
                left = deadline - loop.time()
                if left <= 0:
                    return []
                gone = gone or asyncio.ensure_future(_disconnected(request))
                waiter = asyncio.ensure_future(
                    signal.wait(min(left, STANDING_EVERY), since=generation)
                )
                await asyncio.wait({waiter, gone}, return_when=asyncio.FIRST_COMPLETED)
                if gone.done():
                    waiter.cancel()
                    return []  # nobody is there to read the answer
                woken = waiter.result()
                if not woken:
                    await worker_of(request, farm)  # revoked meanwhile: 401
    finally:
        if gone is not None:
            gone.cancel()


async def _disconnected(request: Request) -> None:
    """Return once the client closes the connection (its body was read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
