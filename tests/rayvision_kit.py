"""Signed calls to the vendor SDK's API, for tests of single endpoints.

The signature is built here from the rules in the reference (not with foxden's own signing
module), so a test that passes proves the server checks what the SDK signs. The end-to-end
claims are proven with the real SDK in tests/rayvision/.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx


def _pairs(value: Any, key: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for name, member in value.items():
            _pairs(member, f"{key}.{name}" if key else name, out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _pairs(item, f"{key}{i}", out)
    else:
        out[key] = value


def signed_headers(
    access_id: str, secret: str, domain: str, path: str, body: dict[str, Any], **overrides: str
) -> dict[str, str]:
    """The headers the SDK sends for `body` to `path` at `domain` (overrides before signing)."""
    headers = {
        "accessId": access_id,
        "channel": "4",
        "platform": "2",
        "UTCTimestamp": str(int(time.time())),
        "nonce": str(random.randrange(100000, 999999)),
        "version": "2.0.0",
        **overrides,
    }
    flat: dict[str, Any] = {}
    _pairs({**headers, **body}, "", flat)
    message = f"[POST]{domain}:{path}&" + "&".join(f"{k}={flat[k]}" for k in sorted(flat))
    mac = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return {
        **headers,
        "signature": base64.b64encode(mac).decode(),
        "Content-Type": "application/json",
    }


@dataclass
class SdkCaller:
    """Calls one farm's SDK API as one account."""

    url: str
    access_id: str
    secret: str

    @property
    def domain(self) -> str:
        return urlparse(self.url).netloc

    def post(
        self, path: str, body: dict[str, Any] | None = None, **overrides: str
    ) -> httpx.Response:
        """The raw reply of a signed POST (headers may be overridden before signing)."""
        body = body or {}
        import json

        headers = signed_headers(self.access_id, self.secret, self.domain, path, body, **overrides)
        return httpx.post(self.url + path, content=json.dumps(body), headers=headers, timeout=30)

    def call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """The `data` of a successful call; AssertionError with the envelope otherwise."""
        reply = self.post(path, body).json()
        assert reply["code"] == 200, reply
        return reply["data"]

    def code(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, str]:
        """The envelope's code and message (for refusals)."""
        reply = self.post(path, body).json()
        return int(reply["code"]), str(reply["message"])


def sdk_caller(url: str, bearer_key: str) -> SdkCaller:
    """An SDK credential for the account of `bearer_key`, issued over the farm's REST API."""
    reply = httpx.post(
        f"{url}/api/me/sdk-key", headers={"Authorization": f"Bearer {bearer_key}"}, timeout=30
    )
    reply.raise_for_status()
    data = reply.json()
    return SdkCaller(url=url, access_id=data["access_id"], secret=data["access_key"])
