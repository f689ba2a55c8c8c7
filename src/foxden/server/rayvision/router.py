"""Every request under `/api/render/` and `/api/rendering/`: verify the signature, dispatch by
path, answer in the SDK's envelope (unknown paths, bad signatures and server errors included)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from starlette.concurrency import run_in_threadpool

from foxden.errors import BadRequest, FoxdenError, TooManyRequests, Unauthorized
from foxden.farm import sdk_keys
from foxden.farm.accounts import Account
from foxden.server.context import Farm
from foxden.server.logins import client_address
from foxden.server.rayvision import (  # noqa: F401  (each module registers its paths)
    account,
    labels,
    operate,
    query,
    software,
    submit,
    transfer,
)
from foxden.server.rayvision.calls import HANDLERS, Call
from foxden.server.rayvision.envelope import failure, success
from foxden.server.rayvision.signing import domains_for, verify
from foxden.wire.vendor import SdkReply

router = APIRouter(tags=["rayvision"])
log = logging.getLogger("foxden.server")


OTHER_METHODS = ["GET", "PUT", "PATCH", "DELETE"]
_DESCRIPTION = (
    "The vendor's current SDK (`rayvision_api`): every call is a signed `POST` whose reply is "
    "the SDK's envelope (`code`, `message`, `data`, `version`, `result`, `serverTime`). "
    "See docs/from-renderbus.md."
)

_REPLY: dict[int | str, dict[str, Any]] = {
    200: {
        "model": SdkReply,
        "description": "The SDK's envelope: `code` 200 and the call's `data`, or the refusal's "
        "code and message (the HTTP status is then that code).",
    }
}


def _body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the request body is not JSON") from None
    if not isinstance(value, dict):
        raise BadRequest("the request body must be a JSON object")
    return value


def authenticate(farm: Farm, request: Request, path: str, body: dict[str, Any]) -> Account:
    """The account that signed this request; 401 for anything unproven."""
    headers = request.headers
    access_id = headers.get("accessid", "").strip()
    signature = headers.get("signature", "")
    if not access_id or not signature:
        raise Unauthorized(
            "this API takes requests signed by the vendor's SDK: the accessId and signature "
            "headers are missing"
        )
    window = farm.settings.sdk_clock_window_seconds
    stamp_text = headers.get("utctimestamp", "")
    try:
        stamp = int(stamp_text)
    except ValueError:
        raise Unauthorized("the UTCTimestamp header must be Unix seconds") from None
    skew = stamp - time.time()
    if abs(skew) > window:
        raise Unauthorized(
            f"the request's UTCTimestamp is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'}"
            f" the farm's clock (at most {window} s allowed): a stale or replayed request, or a "
            "clock that needs setting"
        )
    nonce = headers.get("nonce", "").strip()
    if not nonce or len(nonce) > 16:
        raise Unauthorized("the nonce header is missing or longer than 16 characters")
    acct, secret = sdk_keys.lookup(farm.db, farm.sdk_box, access_id)
    domains = domains_for(headers.get("host", ""), request.url.scheme)
    if not verify(secret, domains, path, dict(headers), body, signature):
        raise Unauthorized(
            "the signature does not match: check the access key, and that `domain` is the "
            "address this farm is reached at (the signature covers it)"
        )
    if not sdk_keys.first_use(farm.db, access_id, stamp, nonce, 2 * window):
        raise Unauthorized(
            "this request was seen already (same nonce and timestamp): replay refused"
        )
    return acct


async def _answer(request: Request, path: str) -> JSONResponse:
    farm: Farm = request.app.state.farm
    address = client_address(request)
    try:
        if request.method != "POST":
            return failure(405, f"{request.method} is not allowed: the SDK's API takes POST only")
        body = _body(await request.body())
        farm.logins.check(address)
        try:
            acct = await run_in_threadpool(authenticate, farm, request, path, body)
        except Unauthorized:
            farm.logins.failed(address)
            raise
        handler = HANDLERS.get(path)
        if handler is None:
            return failure(404, f"{path} is not an API foxden offers (see docs/from-renderbus.md)")
        call = Call(
            farm=farm,
            account=acct,
            path=path,
            body=body,
            platform=request.headers.get("platform", ""),
            domain=request.headers.get("host", ""),
            scheme=request.url.scheme,
        )
        return success(await run_in_threadpool(handler, call))
    except TooManyRequests as exc:
        return failure(429, exc.message, {"Retry-After": str(exc.retry_after)})
    except FoxdenError as exc:
        return failure(exc.status_code, exc.message)
    except (DataError, OverflowError):
        return failure(422, "a number in the request is out of range")
    except OperationalError:
        log.exception("database error in %s", path)
        return failure(500, "the farm's database failed: try again later")
    except Exception:
        log.exception("unexpected error in %s", path)
        return failure(500, "the farm failed to answer this call; its log has the details")


@router.post(
    "/api/render/{rest:path}", description=_DESCRIPTION, response_model=None, responses=_REPLY
)
async def render_call(request: Request, rest: str) -> JSONResponse:
    """One call of the SDK's `/api/render/...` API."""
    return await _answer(request, f"/api/render/{rest}")


@router.post(
    "/api/rendering/{rest:path}", description=_DESCRIPTION, response_model=None, responses=_REPLY
)
async def rendering_call(request: Request, rest: str) -> JSONResponse:
    """One call of the SDK's `/api/rendering/...` API."""
    return await _answer(request, f"/api/rendering/{rest}")


@router.api_route("/api/render/{rest:path}", methods=OTHER_METHODS, include_in_schema=False)
@router.api_route("/api/rendering/{rest:path}", methods=OTHER_METHODS, include_in_schema=False)
async def other_method(request: Request, rest: str) -> JSONResponse:
    """Any other method under the SDK's paths: 405 in the envelope."""
    return await _answer(request, request.url.path)
