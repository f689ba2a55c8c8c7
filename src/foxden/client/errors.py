"""The client's reading of the farm's error replies: each becomes the foxden exception it
stands for (by the reply's error code, else by its HTTP status)."""

from __future__ import annotations

import httpx

from foxden.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    FoxdenError,
    LeaseLost,
    NotFound,
    ServerUnavailable,
    TransferError,
    Unauthorized,
)

ERRORS: dict[str, type[FoxdenError]] = {
    cls.code: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        LeaseLost,
        TransferError,
        ServerUnavailable,
    )
}
_BY_STATUS: dict[int, type[FoxdenError]] = {cls.status_code: cls for cls in ERRORS.values()}
_BY_STATUS.update({429: ServerUnavailable, 502: ServerUnavailable, 504: ServerUnavailable})


def error_from(response: httpx.Response) -> FoxdenError:
    """The foxden exception an error reply stands for."""
    try:
        body = response.json()
        err = body["error"]
        code, message = str(err.get("code", "")), str(err.get("message", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        code, message = "", ""
    cls = ERRORS.get(code) or _BY_STATUS.get(response.status_code, FoxdenError)
    if not message:
        message = f"the farm answered HTTP {response.status_code} to {response.request.method} {response.request.url.path}"
    exc = cls(message)
    return exc
