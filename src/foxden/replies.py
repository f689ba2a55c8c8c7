"""The one reading of the farm's error replies, for the client and the render node alike.

An error reply is `{"error": {"code", "message"}}` (the vendor's envelope is the vendor API's
own business); it becomes the foxden exception its code names, else the one its HTTP status
stands for, carrying the server's message.
"""

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

#: error code -> the exception it names.
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


def message_of(response: httpx.Response) -> str:
    """The message of an error reply ('' when it carries none)."""
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""


def code_of(response: httpx.Response) -> str:
    """The error code of an error reply ('' when it carries none)."""
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""


def error_from(response: httpx.Response) -> FoxdenError:
    """The foxden exception an error reply stands for."""
    cls = ERRORS.get(code_of(response)) or _BY_STATUS.get(response.status_code, FoxdenError)
    message = message_of(response) or (
        f"the farm answered HTTP {response.status_code} to "
        f"{response.request.method} {response.request.url.path}"
    )
    return cls(message)
