"""The last guard against numbers the database cannot hold: a 422, never a 500.

Request models bound their numbers (`foxden.server.api.models`), but a path or query id of a
route, or a value in a body no model types, may still be larger than its column (ids are 32-bit
integers on PostgreSQL; SQLite's driver stops at 2^63). Such a value names nothing there can be,
so the request is refused as unprocessable; the case is logged, to be bounded where it comes in.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

log = logging.getLogger("foxden.server")

MESSAGE = "a number or text in the request is out of the range the farm can store"


def _reply(request: Request, exc: Exception) -> JSONResponse:
    log.warning(
        "refused %s %s: %s",
        request.method,
        request.url.path[:200],
        str(exc)[:200],
        extra={"event": "out_of_range"},
    )
    return JSONResponse({"error": {"code": "out_of_range", "message": MESSAGE}}, status_code=422)


def install(app: FastAPI) -> None:
    """Answer values the database cannot take with 422."""

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> JSONResponse:
        return _reply(request, exc)

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        return _reply(request, exc)
