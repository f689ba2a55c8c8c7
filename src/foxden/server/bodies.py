"""A cap on request bodies: 413 by Content-Length up front, or as soon as a streamed body passes it.

Uploads of blobs stream to disk under their own cap (`max_blob_bytes`) and are left alone here;
batch manifests (`/api/files/check`, `/api/files/commit`) and worker reports get the larger
`max_manifest_bytes`; every other body (JSON, forms) gets `max_json_bytes`. The vendor's
`/api/v1/task` is refused in its own envelope, with HTTP 200 (its clients read no other status).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from foxden.errors import PayloadTooLarge
from foxden.server.config import Settings
from foxden.server.rayvision import envelope

CapFor = Callable[[str, str], int | None]

# After refusing a body, up to this much more of it is read and dropped, so that a client still
# sending reads the refusal instead of a broken connection (which it would retry).
DRAIN_LIMIT = 64 << 20

_STREAMED = re.compile(r"^/api/(uploads|worker/blobs)/[^/]+$")
_MANIFESTS = re.compile(r"^/api/(files/(check|commit)|uploads/batch|worker/leases/.*)$")


def caps(settings: Settings) -> CapFor:
    """The body cap of a request by method and path (None: the endpoint streams and caps it)."""

    def cap_for(method: str, path: str) -> int | None:
        if method == "PUT" and _STREAMED.match(path):
            return None
        if _MANIFESTS.match(path):
            return settings.max_manifest_bytes
        return settings.max_json_bytes

    return cap_for


def _too_large(cap: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is larger than {cap} bytes, the most this endpoint takes"
    )


async def drain(chunks: AsyncIterator[bytes], limit: int = DRAIN_LIMIT) -> None:
    """Read and drop the rest of a refused body, up to `limit` bytes (a client gone is fine)."""
    dropped = 0
    try:
        async for chunk in chunks:
            dropped += len(chunk)
            if dropped > limit:
                return
    except (ClientDisconnect, RuntimeError):
        return


async def _drain_receive(receive: Receive, limit: int = DRAIN_LIMIT) -> None:
    dropped = 0
    while dropped <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return
        dropped += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


#: The vendor's endpoint answers every failure with HTTP 200 and the error in `head`.
VENDOR_PATH = "/api/v1/task"
#: The vendor SDK's API answers in its envelope (server/rayvision/envelope.py).
SDK_PREFIXES = ("/api/render/", "/api/rendering/")


async def _reply(send: Send, exc: PayloadTooLarge, path: str = "") -> None:
    status = exc.status_code
    reply: dict[str, object] = {"error": {"code": exc.code, "message": exc.message}}
    if path == VENDOR_PATH:
        status = 200
        reply = {
            "head": {
                "result": "1",
                "error_code": str(exc.status_code),
                "error_message": exc.message,
            },
            "body": {"data": [], "total_size": 0},
        }
    elif path.startswith(SDK_PREFIXES):
        reply = envelope.body(exc.status_code, exc.message, None)
    body = json.dumps(reply).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware refusing bodies over their cap with 413 (never reading them whole)."""

    def __init__(self, app: ASGIApp, cap_for: CapFor) -> None:
        self.app = app
        self.cap_for = cap_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.cap_for(scope["method"], scope["path"])
        if cap is None:
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and (len(declared) > 18 or int(declared) > cap):
            await _drain_receive(receive)
            await _reply(send, _too_large(cap), scope["path"])
            return
        seen = 0
        exceeded = False
        started = False
        whole = False  # the body's last message came: nothing is left to drain

        async def limited_receive() -> Message:
            nonlocal seen, exceeded, whole
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                whole = not message.get("more_body", False)
                if seen > cap:
                    exceeded = True
                    raise _too_large(cap)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the app's own reply to the cut body: ours goes instead
            started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            if not whole:  # waiting for more of a body that ended would wait forever
                await _drain_receive(receive)
            await _reply(send, _too_large(cap), scope["path"])
