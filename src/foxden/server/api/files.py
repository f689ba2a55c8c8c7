"""Uploads (manifest check, resumable verified chunks, commit), the file tree and blob reads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from foxden.errors import BadRequest, NotFound
from foxden.farm import files
from foxden.server.api.deps import AccountDep, FarmDep
from foxden.server.api.models import Manifest
from foxden.store.blobs import check_hash

router = APIRouter(prefix="/api", tags=["files"])
MAX_CHUNK = 64 << 20


@router.post("/files/check")
def check(body: Manifest, farm: FarmDep, account: AccountDep) -> dict[str, Any]:
    """One round trip: records files whose content you already have, lists the hashes to send."""
    return files.check_manifest(farm.db, account.id, [e.model_dump() for e in body.files])


@router.post("/files/commit")
def commit(body: Manifest, farm: FarmDep, account: AccountDep) -> dict[str, Any]:
    """Record files after their content was uploaded."""
    return files.commit(farm.db, account.id, [e.model_dump() for e in body.files])


@router.get("/files")
def list_files(farm: FarmDep, account: AccountDep, prefix: str = "/") -> list[dict[str, Any]]:
    """Your files under a tree prefix (such as /v/project)."""
    return files.list_files(farm.db, account.id, prefix)


@router.delete("/files", status_code=204)
def delete_file(farm: FarmDep, account: AccountDep, path: str) -> Response:
    """Remove a file from your tree."""
    files.delete_file(farm.db, account.id, path)
    return Response(status_code=204)


@router.get("/uploads/{digest}")
def upload_status(digest: str, farm: FarmDep, account: AccountDep) -> dict[str, Any]:
    """How many bytes of an interrupted upload arrived (continue from there)."""
    check_hash(digest)
    if files.account_has_blob(farm.db, account.id, digest):
        return {"hash": digest, "offset": 0, "complete": True}
    return {
        "hash": digest,
        "offset": farm.store.received(f"a{account.id}", digest),
        "complete": False,
    }


@router.put("/uploads/{digest}")
async def upload_chunk(
    digest: str,
    request: Request,
    farm: FarmDep,
    account: AccountDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    total: Annotated[int, Query(ge=0, description="the blob's full size")] = -1,
    chunk_sha256: Annotated[str | None, Header(alias="x-chunk-sha256")] = None,
) -> dict[str, Any]:
    """Append a chunk at `offset` (verified by X-Chunk-Sha256); the last chunk completes the blob."""
    check_hash(digest)
    if total < 0:
        raise BadRequest("give the blob's full size as ?total=")
    data = await request.body()
    if len(data) > MAX_CHUNK:
        raise BadRequest(f"a chunk holds at most {MAX_CHUNK} bytes")
    return await run_in_threadpool(
        _store_chunk, farm, account.id, digest, offset, total, data, chunk_sha256
    )


def _store_chunk(
    farm: Any,
    account_id: int,
    digest: str,
    offset: int,
    total: int,
    data: bytes,
    chunk_hash: str | None,
) -> dict[str, Any]:
    owner = f"a{account_id}"
    if offset == 0 and len(data) == total and farm.store.received(owner, digest) == 0:
        size = farm.store.put_whole(data, digest)  # one chunk: its hash is the blob's hash
    else:
        received = farm.store.append(owner, digest, offset, data, chunk_hash, total)
        if received < total:
            return {"hash": digest, "offset": received, "complete": False}
        size = farm.store.complete(owner, digest)
    files.adopt_blob(farm.db, account_id, digest, size)
    return {"hash": digest, "offset": size, "complete": True}


@router.get("/blobs/{digest}", response_class=FileResponse)
def read_blob(digest: str, farm: FarmDep, account: AccountDep) -> FileResponse:
    """Content of a blob you have (uploads, outputs, thumbnails); supports HTTP Range."""
    check_hash(digest)
    if not files.account_has_blob(farm.db, account.id, digest) or not farm.store.exists(digest):
        raise NotFound("no such file in your account")
    return FileResponse(farm.store.path(digest), media_type="application/octet-stream")
