"""The SDK's reply envelope: `code` (200 = success), `message`, `data`, `version`, `result`,
`serverTime` (ms). Every reply under the SDK's paths has it, failures included: the SDK reads
`code` whatever the HTTP status, and raises `RayvisionAPIError(code, message)` when it is not 200."""

from __future__ import annotations

import time
from typing import Any

from fastapi.responses import JSONResponse

VERSION = "2.0.0"


def body(code: int, message: str, data: Any) -> dict[str, Any]:
    """The envelope itself, as a dict."""
    return {
        "version": VERSION,
        "result": code == 200,
        "code": code,
        "message": message,
        "data": data,
        "serverTime": int(time.time() * 1000),
    }


def success(data: Any) -> JSONResponse:
    """A successful reply carrying `data`."""
    return JSONResponse(body(200, "success", data))


def failure(code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A refusal: the HTTP status is the code where it is one (4xx/5xx), the body the envelope."""
    status = code if 400 <= code <= 599 else 400
    return JSONResponse(body(code, message, None), status_code=status, headers=headers)
