"""The credential a request carries: its bearer token (an account's access key or a worker's
token). The API's dependencies and the web's session middleware both read it here."""

from __future__ import annotations

from starlette.requests import HTTPConnection


def bearer(request: HTTPConnection) -> str | None:
    """The bearer token of the request, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
