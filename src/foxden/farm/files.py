"""Per-account file trees over the shared blob store.

Blobs are stored once, whoever uploads them, but an account only "has" a blob it uploaded (or
that its tasks produced): the manifest check answers from the account's own blobs, so dedup
never tells one account what another has stored.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any, TypedDict

from anyio import CancelScope, to_thread
from sqlalchemy import Connection, Insert, Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from foxden.db.engine import Database
from foxden.db.schema import account_blobs, blobs, files
from foxden.errors import BadRequest, NotFound, PayloadTooLarge
from foxden.paths import mirror
from foxden.store.blobs import BlobStore, check_hash, gather
from foxden.wire.api import (
    BatchUploadOut,
    CommitOut,
    FileEntry,
    FileOut,
    ManifestCheckOut,
    RefusedBlob,
)

MAX_MANIFEST = 50_000


def owned(conn: Connection, account_id: int, hashes: list[str]) -> set[str]:
    """Which of `hashes` the account has."""
    found: set[str] = set()
    for i in range(0, len(hashes), 900):
        part = hashes[i : i + 900]
        found.update(
            conn.execute(
                select(account_blobs.c.hash).where(
                    (account_blobs.c.account_id == account_id) & account_blobs.c.hash.in_(part)
                )
            ).scalars()
        )
    return found


class _TreeFile(TypedDict):
    """A manifest entry as the account's tree records it (its path mirrored, its hash checked)."""

    path: str
    hash: str
    size: int
    mtime: float


def _normalise(entries: list[FileEntry]) -> list[_TreeFile]:
    if len(entries) > MAX_MANIFEST:
        raise BadRequest(f"a manifest holds at most {MAX_MANIFEST} files: split the upload")
    return [
        {"path": mirror(e.path), "hash": check_hash(e.hash), "size": e.size, "mtime": e.mtime}
        for e in entries
    ]


def _changes(
    conn: Connection, account_id: int, entries: list[_TreeFile]
) -> tuple[list[_TreeFile], list[_TreeFile]]:
    """The entries not in the account's tree yet, and those it records otherwise (a path two
    client paths mirror to counts once, as its last entry)."""
    latest = {e["path"]: e for e in entries}
    current: dict[str, tuple[str, int, float]] = {}
    paths = list(latest)
    for i in range(0, len(paths), 900):
        rows = conn.execute(
            select(files.c.path, files.c.hash, files.c.size, files.c.mtime).where(
                (files.c.account_id == account_id) & files.c.path.in_(paths[i : i + 900])
            )
        ).all()
        current.update({r.path: (r.hash, r.size, r.mtime) for r in rows})
    fresh: list[_TreeFile] = []
    changed: list[_TreeFile] = []
    for e in latest.values():
        known = current.get(e["path"])
        if known is None:
            fresh.append(e)
        elif known != (e["hash"], e["size"], e["mtime"]):
            changed.append(e)
    return fresh, changed


def _record(conn: Connection, account_id: int, entries: list[_TreeFile], now: float) -> None:
    """Insert new files, update changed ones; files recorded as they are now are left alone."""
    fresh, changed = _changes(conn, account_id, entries)
    for e in changed:
        conn.execute(
            update(files)
            .where((files.c.account_id == account_id) & (files.c.path == e["path"]))
            .values(hash=e["hash"], size=e["size"], mtime=e["mtime"], updated_at=now)
        )
    if fresh:
        rows = [{"account_id": account_id, "updated_at": now, **e} for e in fresh]
        conn.execute(insert(files), rows)


def check_manifest(db: Database, account_id: int, entries: list[FileEntry]) -> ManifestCheckOut:
    """Record the files whose content the account has; list the hashes it must send.

    It reads first: a manifest whose files the account's tree records as they are (an
    unchanged re-upload), or whose content the account lacks (a first upload), takes no write
    transaction.
    """
    norm = _normalise(entries)
    now = time.time()
    hashes = sorted({e["hash"] for e in norm})
    with db.read() as conn:
        have = owned(conn, account_id, hashes)
        fresh, changed = _changes(conn, account_id, [e for e in norm if e["hash"] in have])
    if fresh or changed:
        with db.write() as conn:
            have = owned(conn, account_id, hashes)
            _record(conn, account_id, [e for e in norm if e["hash"] in have], now)
    missing = sorted({e["hash"] for e in norm if e["hash"] not in have})
    return ManifestCheckOut(
        missing=missing,
        recorded=[e["path"] for e in norm if e["hash"] in have],
        pending=[e["path"] for e in norm if e["hash"] not in have],
    )


def _insert_ignoring_duplicates(conn: Connection, table: Table) -> Insert:
    """An INSERT that skips rows whose primary key is already there (concurrent uploads race)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def adopt_blobs(db: Database, account_id: int, verified: list[tuple[str, int]]) -> None:
    """Note that the account now has each blob (hash, size) of `verified`, in ONE transaction.

    Only for blobs whose bytes this account sent and the store verified: owning a blob lets the
    account read it and skips it in manifest checks, so it must never be granted on a hash alone.
    """
    sizes = {check_hash(digest): int(size) for digest, size in verified}
    if not sizes:
        return
    now = time.time()
    with db.write() as conn:
        conn.execute(
            _insert_ignoring_duplicates(conn, blobs),
            [{"hash": h, "size": s, "created_at": now} for h, s in sizes.items()],
        )
        conn.execute(
            _insert_ignoring_duplicates(conn, account_blobs),
            [{"account_id": account_id, "hash": h} for h in sizes],
        )


def adopt_blob(db: Database, account_id: int, digest: str, size: int) -> None:
    """Note that the account now has blob `digest` (after a verified upload)."""
    adopt_blobs(db, account_id, [(digest, size)])


def upload_owner(account_id: int) -> str:
    """The store's name for the account's uploads in progress."""
    return f"a{account_id}"


def upload_offset(store: BlobStore, account_id: int, digest: str) -> int:
    """How many bytes of the account's interrupted upload of `digest` arrived."""
    return store.received(upload_owner(account_id), digest)


async def receive_upload(
    store: BlobStore,
    account_id: int,
    digest: str,
    chunks: AsyncIterator[bytes],
    *,
    offset: int,
    total: int,
    declared: int | None,
    chunk_hash: str | None,
    limit: int,
    prefix_hash: str | None = None,
) -> int | None:
    """Receive one chunk at `offset` (or the whole blob) of a `total`-byte blob, `declared` the
    chunk's announced length if any; the blob's size once complete and verified, else None.
    The chunk is checked against `prefix_hash` (SHA-256 of the blob's bytes up to the chunk's
    end) and `chunk_hash` (of the chunk alone) when given; the completed blob against its hash
    always. A blob over `limit` bytes, or a chunk running past `total`, is refused (413)."""
    check_hash(digest)
    if total < 0:
        raise BadRequest("give the blob's full size as ?total=")
    if total > limit:
        raise PayloadTooLarge(
            f"this farm stores files of at most {limit} bytes (its max_blob_bytes setting); "
            f"this one declares {total}"
        )
    if declared is not None and offset + declared > total:
        raise PayloadTooLarge(
            f"a chunk of {declared} bytes at offset {offset} runs past the blob's size {total}"
        )
    owner = upload_owner(account_id)
    whole = offset == 0 and declared == total
    if whole and await to_thread.run_sync(store.received, owner, digest) == 0:
        # one piece: its hash is the blob's hash
        return await store.receive_stream(chunks, digest, limit=total, size=total)
    received = await store.receive_chunk(
        owner, digest, offset, total, chunks, chunk_hash, prefix_hash
    )
    if received < total:
        return None
    return await to_thread.run_sync(store.complete, owner, digest)


async def receive_batch(
    db: Database,
    store: BlobStore,
    account_id: int,
    entries: list[tuple[str, int]],
    chunks: AsyncIterable[bytes],
    *,
    limit: int,
) -> BatchUploadOut:
    """Store each (hash, size) blob of a batch from `chunks` (the body after its index line:
    their bytes back to back), each written to disk and hashed as it streams in and verified
    on its own; those that verify become the account's in one transaction. Returns the stored
    hashes and the refused ones with their reasons.

    A body that carries fewer or more bytes than the index declares is refused whole
    (`BadRequest`, nothing stored); past `limit` bytes it is not read further. No member is
    held in memory: the body is written in pieces of about a MiB.
    """
    writer = store.batch_writer(entries)
    declared = sum(size for _, size in entries)
    carried = 0
    try:
        async for block in gather(chunks):
            carried += sum(map(len, block))
            if carried <= declared:
                await to_thread.run_sync(writer.write, block)
            elif carried > limit:
                break
        if carried != declared:
            carries = f"more than {limit}" if carried > limit else str(carried)
            raise BadRequest(
                f"the batch carries {carries} bytes after its index line, "
                f"but its index declares {declared}: nothing was stored"
            )
        if not await to_thread.run_sync(writer.finished):  # pragma: no cover - counted above
            raise BadRequest("the batch ended before its last blob: nothing was stored")
        stored = await to_thread.run_sync(writer.place)
    finally:  # what was not placed goes, even when the request was cancelled (client gone)
        with CancelScope(shield=True):
            await to_thread.run_sync(writer.discard)
    await to_thread.run_sync(adopt_blobs, db, account_id, stored)  # only what arrived, verified
    refused = [RefusedBlob(hash=digest, reason=reason) for digest, reason in writer.refused]
    return BatchUploadOut(stored=[digest for digest, _ in stored], refused=refused)


def commit(db: Database, account_id: int, entries: list[FileEntry]) -> CommitOut:
    """Record files after their content was uploaded; refuses content the account lacks."""
    norm = _normalise(entries)
    with db.write() as conn:
        have = owned(conn, account_id, sorted({e["hash"] for e in norm}))
        lacking = sorted({e["path"] for e in norm if e["hash"] not in have})
        if lacking:
            raise BadRequest(
                f"content of {len(lacking)} file(s) was not uploaded, e.g. {lacking[0]}: upload it first"
            )
        _record(conn, account_id, norm, time.time())
    return CommitOut(recorded=[e["path"] for e in norm])


def list_files(
    db: Database, account_id: int, prefix: str = "/", limit: int = 10_000
) -> list[FileOut]:
    """Files of the account under a tree prefix."""
    prefix = prefix if prefix.endswith("/") else prefix + "/"
    with db.read() as conn:
        query = select(
            files.c.path, files.c.hash, files.c.size, files.c.mtime, files.c.updated_at
        ).where(files.c.account_id == account_id)
        if prefix != "/":
            query = query.where(files.c.path.startswith(prefix, autoescape=True))
        rows = conn.execute(query.order_by(files.c.path).limit(limit)).mappings().all()
    return [FileOut.model_validate(r) for r in rows]


def lookup(conn: Connection, account_id: int, path: str) -> Any:
    """The file at a tree path, or None."""
    return conn.execute(
        select(files.c.path, files.c.hash, files.c.size).where(
            (files.c.account_id == account_id) & (files.c.path == path)
        )
    ).first()


def delete_file(db: Database, account_id: int, path: str) -> None:
    """Remove one file from the account's tree."""
    with db.write() as conn:
        res = conn.execute(
            delete(files).where((files.c.account_id == account_id) & (files.c.path == mirror(path)))
        )
    if res.rowcount == 0:
        raise NotFound(f"no file {path!r} in your files")


def account_has_blob(db: Database, account_id: int, digest: str) -> bool:
    """Whether the account may read blob `digest`."""
    with db.read() as conn:
        return bool(owned(conn, account_id, [digest]))
