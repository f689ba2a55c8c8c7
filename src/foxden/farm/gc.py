"""Collecting blobs nothing refers to any more (deleted tasks, replaced or deleted files)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import delete, select, union

from foxden.db.engine import Database
from foxden.db.schema import account_blobs, blobs, files, outputs, task_inputs
from foxden.store.blobs import BlobStore

DEFAULT_GRACE = 24 * 3600.0  # an upload may sit between its blobs and its commit for a while


@dataclass(frozen=True)
class Collected:
    """What a collection removed (or would remove, on a dry run)."""

    blobs: int
    bytes: int
    partial_uploads: int


def collect(
    db: Database, store: BlobStore, *, grace: float = DEFAULT_GRACE, dry_run: bool = False
) -> Collected:
    """Remove blobs older than `grace` seconds that no file, output, thumbnail or task input uses.

    The grace period keeps blobs of uploads and renders in flight (stored, not yet recorded).
    Stale partial uploads older than the grace period go too.
    """
    cutoff = time.time() - grace
    used = union(
        select(files.c.hash),
        select(outputs.c.hash),
        select(outputs.c.thumb_hash).where(outputs.c.thumb_hash.is_not(None)),
        select(task_inputs.c.hash),
    ).subquery()
    with db.write() as conn:
        doomed = conn.execute(
            select(blobs.c.hash, blobs.c.size).where(
                (blobs.c.created_at < cutoff) & blobs.c.hash.not_in(select(used.c[0]))
            )
        ).all()
        if not dry_run:
            hashes = [d.hash for d in doomed]
            for i in range(0, len(hashes), 500):
                part = hashes[i : i + 500]
                conn.execute(delete(account_blobs).where(account_blobs.c.hash.in_(part)))
                conn.execute(delete(blobs).where(blobs.c.hash.in_(part)))
    if not dry_run:
        for d in doomed:
            store.path(d.hash).unlink(missing_ok=True)
    partials = [
        p for p in (store.root / "partial").iterdir() if p.is_file() and p.stat().st_mtime < cutoff
    ]
    if not dry_run:
        for p in partials:
            p.unlink(missing_ok=True)
    return Collected(
        blobs=len(doomed), bytes=sum(d.size for d in doomed), partial_uploads=len(partials)
    )
