"""Uploads (manifest check, resumable verified chunks, batches, commit), the file tree, blob reads.

Batches move many small blobs in one request each way (see `upload_batch` and `read_blobs`):

    POST /api/uploads/batch   body: one line of JSON, "\\n", then the blobs' bytes back to back
        {"blobs": [{"hash": "<sha256>", "size": 123}, ...]}\\n<123 bytes><...>
        -> {"stored": ["<sha256>", ...], "refused": [{"hash": "<sha256>", "reason": "..."}]}
    POST /api/blobs/batch     {"hashes": ["<sha256>", ...]}
        -> the blobs' bytes back to back, in the order asked (sizes: from the output manifest)

A batch holds at most MAX_BATCH_BLOBS blobs and MAX_BATCH_BYTES bytes of content.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from foxden.errors import (
    BadRequest,
    FoxdenError,
    NotFound,
    PayloadTooLarge,
    quote,
)
from foxden.farm import files
from foxden.server.api.deps import AccountDep, FarmDep
from foxden.server.api.models import BlobBatch, Manifest
from foxden.server.api.responses import binary
from foxden.server.bodies import drain
from foxden.store.blobs import COPY_CHUNK, check_hash
from foxden.wire.api import BatchUploadOut, CommitOut, FileOut, ManifestCheckOut, UploadStatusOut

router = APIRouter(prefix="/api", tags=["files"])
MAX_BATCH_BYTES = 32 << 20  # content of one batch, either way
MAX_BATCH_BLOBS = 1000
MAX_BATCH_INDEX = 256 << 10  # the JSON line in front of an upload batch


@router.post("/files/check")
def check(body: Manifest, farm: FarmDep, account: AccountDep) -> ManifestCheckOut:
    """One round trip: records files whose content you already have, lists the hashes to send."""
    return files.check_manifest(farm.db, account.id, body.files)


@router.post("/files/commit")
def commit(body: Manifest, farm: FarmDep, account: AccountDep) -> CommitOut:
    """Record files after their content was uploaded."""
    return files.commit(farm.db, account.id, body.files)


@router.get("/files")
def list_files(farm: FarmDep, account: AccountDep, prefix: str = "/") -> list[FileOut]:
    """Your files under a tree prefix (such as /v/project)."""
    return files.list_files(farm.db, account.id, prefix)


@router.delete("/files", status_code=204)
def delete_file(farm: FarmDep, account: AccountDep, path: str) -> Response:
    """Remove a file from your tree."""
    files.delete_file(farm.db, account.id, path)
    return Response(status_code=204)


@router.get("/uploads/{digest}")
def upload_status(digest: str, farm: FarmDep, account: AccountDep) -> UploadStatusOut:
    """How many bytes of an interrupted upload arrived (continue from there)."""
    check_hash(digest)
    if files.account_has_blob(farm.db, account.id, digest):
        return UploadStatusOut(hash=digest, offset=0, complete=True)
    return UploadStatusOut(
        hash=digest, offset=files.upload_offset(farm.store, account.id, digest), complete=False
    )


@router.put("/uploads/{digest}")
async def upload_chunk(
    digest: str,
    request: Request,
    farm: FarmDep,
    account: AccountDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    total: Annotated[int, Query(ge=0, description="the blob's full size")] = -1,
    chunk_sha256: Annotated[
        str | None, Header(alias="x-chunk-sha256", description="SHA-256 of this chunk alone")
    ] = None,
    prefix_sha256: Annotated[
        str | None,
        Header(
            alias="x-prefix-sha256",
            description="SHA-256 of the blob's bytes from its start to the end of this chunk",
        ),
    ] = None,
) -> UploadStatusOut:
    """Append a chunk at `offset`; the last chunk completes the blob.

    The body is streamed to disk while it extends the upload's running SHA-256, so each byte is
    hashed once and a completed blob is not read again. A chunk is verified by X-Prefix-Sha256
    (the running hash it must end at) or X-Chunk-Sha256 (its own hash, which costs a second
    hash); a damaged one is refused with 422 and nothing is appended. A blob larger than the
    farm's `max_blob_bytes`, or a chunk running past `total`, is refused with 413.
    """
    chunks = request.stream()
    try:
        size = await files.receive_upload(
            farm.store,
            account.id,
            digest,
            chunks,
            offset=offset,
            total=total,
            declared=content_length(request),
            chunk_hash=chunk_sha256,
            prefix_hash=prefix_sha256,
            limit=farm.settings.max_blob_bytes,
        )
    except ClientDisconnect:  # the chunk is undone; a 4xx for the log, not a server error
        raise BadRequest("the chunk was cut off: the client went away before its end") from None
    except FoxdenError:
        await drain(chunks)  # so that a client still sending reads the refusal
        raise
    if size is None:
        return UploadStatusOut(
            hash=digest, offset=files.upload_offset(farm.store, account.id, digest), complete=False
        )
    await run_in_threadpool(files.adopt_blob, farm.db, account.id, digest, size)
    return UploadStatusOut(hash=digest, offset=size, complete=True)


def content_length(request: Request) -> int | None:
    """The request's declared Content-Length, if it has a valid one."""
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit() or len(declared) > 20:
        return None
    return int(declared)


_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "description": (
            'One line of JSON, {"blobs": [{"hash": "<sha256 hex>", "size": <bytes>}, ...]}, ended '
            "by a newline, then every blob's bytes back to back in that order. At most "
            f"{MAX_BATCH_BLOBS} blobs and {MAX_BATCH_BYTES} bytes of content; no hash twice."
        ),
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.post("/uploads/batch", openapi_extra=_BATCH_BODY)
async def upload_batch(request: Request, farm: FarmDep, account: AccountDep) -> BatchUploadOut:
    """Upload many small blobs in one request; each is verified and stored on its own.

    A blob whose bytes do not match its hash is refused and named in `refused` (send it again);
    the others are stored, and all of them become the account's in one transaction. A batch
    whose framing is wrong (bad index, sizes that do not add up to the body) is refused whole,
    with nothing stored. The body streams to disk as it arrives (about a MiB in memory at a
    time): its index line is read first, then each blob is written and hashed in turn.
    """
    declared = content_length(request)
    if declared is not None and declared > MAX_BATCH_INDEX + 1 + MAX_BATCH_BYTES:
        raise PayloadTooLarge(
            f"a batch holds at most {MAX_BATCH_BYTES} bytes of content: split it "
            "(or send big files with PUT /api/uploads/{hash})"
        )
    chunks = request.stream()
    try:
        head, rest = await _index_line(chunks)
        entries = _batch_index(head)
        return await files.receive_batch(
            farm.db,
            farm.store,
            account.id,
            entries,
            _prepend(rest, chunks),
            limit=MAX_BATCH_BYTES,
        )
    except ClientDisconnect:  # nothing was stored; a 4xx for the log, not a server error
        raise BadRequest("the batch was cut off: the client went away before its end") from None
    except FoxdenError:
        await drain(chunks)  # so that a client still sending reads the refusal
        raise


async def _index_line(chunks: AsyncIterator[bytes]) -> tuple[bytes, bytes]:
    """A batch's index line (without its newline) and the bytes after it in the piece read."""
    head = bytearray()
    async for piece in chunks:
        end = piece.find(b"\n")
        if end >= 0 and len(head) + end <= MAX_BATCH_INDEX:
            head += piece[:end]
            return bytes(head), piece[end + 1 :]
        head += piece
        if end >= 0 or len(head) > MAX_BATCH_INDEX:
            break
    raise BadRequest(
        'a batch starts with one line of JSON, {"blobs": [{"hash": ..., "size": ...}, ...]}, '
        f"ended by a newline and at most {MAX_BATCH_INDEX} bytes long"
    )


async def _prepend(first: bytes, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for piece in chunks:
        yield piece


def _batch_index(head: bytes) -> list[tuple[str, int]]:
    """The (hash, size) list of an upload batch's index line."""
    try:
        index = json.loads(head)
        listed = index["blobs"]
        entries = [(str(b["hash"]), b["size"]) for b in listed]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest(
            'the first line of a batch must be {"blobs": [{"hash": ..., "size": ...}, ...]} '
            f"({type(exc).__name__}: {exc})"
        ) from None
    if len(entries) > MAX_BATCH_BLOBS:
        raise BadRequest(
            f"a batch holds at most {MAX_BATCH_BLOBS} blobs, not {len(entries)}: split it"
        )
    seen: set[str] = set()
    for digest, size in entries:
        check_hash(digest)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise BadRequest(
                f"blob {digest}: size must be a whole number of bytes, not {quote(size)}"
            )
        if digest in seen:
            raise BadRequest(f"blob {digest} is listed twice in the batch: send it once")
        seen.add(digest)
    if sum(size for _, size in entries) > MAX_BATCH_BYTES:
        raise BadRequest(f"a batch holds at most {MAX_BATCH_BYTES} bytes of content: split it")
    return entries


@router.post(
    "/blobs/batch",
    response_class=StreamingResponse,
    responses=binary("The blobs' bytes back to back, in the order asked."),
)
def read_blobs(body: BlobBatch, farm: FarmDep, account: AccountDep) -> StreamingResponse:
    """Content of many blobs you have, concatenated in the order asked (sizes: from the manifest).

    Any hash the account does not have makes the whole request 404, naming it.
    """
    hashes = [check_hash(h) for h in body.hashes]
    if len(hashes) > MAX_BATCH_BLOBS:
        raise BadRequest(
            f"a batch holds at most {MAX_BATCH_BLOBS} blobs, not {len(hashes)}: split it"
        )
    with farm.db.read() as conn:
        have = files.owned(conn, account.id, sorted(set(hashes)))
    found = {h: farm.store.intact_path(h) for h in sorted(have)}
    paths = [found.get(h) for h in hashes]
    lacking = [h for h, p in zip(hashes, paths, strict=True) if p is None]
    if lacking:
        more = f" (and {len(lacking) - 1} more)" if len(lacking) > 1 else ""
        raise NotFound(f"no such file in your account: {lacking[0]}{more}")
    intact = [p for p in paths if p is not None]
    total = sum(p.stat().st_size for p in intact)
    if total > MAX_BATCH_BYTES:
        raise BadRequest(
            f"a batch holds at most {MAX_BATCH_BYTES} bytes of content, these blobs have {total}: "
            "split it (or fetch big files with GET /api/blobs/{hash})"
        )
    return StreamingResponse(
        _concatenated(intact),
        media_type="application/octet-stream",
        headers={"Content-Length": str(total)},
    )


def _concatenated(paths: list[Path]) -> Iterator[bytes]:
    for path in paths:
        with path.open("rb") as fh:
            while block := fh.read(COPY_CHUNK):
                yield block


@router.get(
    "/blobs/{digest}",
    response_class=FileResponse,
    responses=binary("The blob's bytes (or the range asked)."),
)
def read_blob(digest: str, farm: FarmDep, account: AccountDep) -> FileResponse:
    """Content of a blob you have (uploads, outputs, thumbnails); supports HTTP Range."""
    check_hash(digest)
    path = (
        farm.store.intact_path(digest)
        if files.account_has_blob(farm.db, account.id, digest)
        else None
    )
    if path is None:
        raise NotFound("no such file in your account")
    return FileResponse(path, media_type="application/octet-stream")
