"""A farm faked with httpx's mock transport, for the worker's unit tests."""

from __future__ import annotations

import hashlib
import threading

import httpx

from foxden.retry import RetryPolicy
from foxden.worker.protocol import WorkerClient

FAST = RetryPolicy(attempts=None, base_delay=0.001, max_delay=0.01)


def client_for(handler: httpx.MockTransport, stop: threading.Event | None = None) -> WorkerClient:
    client = WorkerClient("http://farm.test", stop or threading.Event(), FAST)
    client._http = httpx.Client(base_url="http://farm.test", transport=handler)
    client.token = "fdw_test"
    return client


def blob_server(
    blobs: dict[str, bytes], corrupt_first: set[str] | None = None
) -> tuple[httpx.MockTransport, list[str]]:
    fetched: list[str] = []
    corrupt = set(corrupt_first or ())

    def handler(request: httpx.Request) -> httpx.Response:
        digest = request.url.path.rsplit("/", 1)[1]
        fetched.append(digest)
        if digest not in blobs:
            return httpx.Response(404, json={"error": {"message": "not yours"}})
        if digest in corrupt:
            corrupt.discard(digest)
            return httpx.Response(200, content=b"X" + blobs[digest][1:])
        return httpx.Response(200, content=blobs[digest])

    return httpx.MockTransport(handler), fetched


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
