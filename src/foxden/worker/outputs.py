"""Uploading a frame's outputs (and their thumbnails) as content-addressed blobs."""

from __future__ import annotations

import hashlib
from pathlib import Path

from foxden.digests import file_digest
from foxden.wire.worker import OutputFile
from foxden.worker.protocol import WorkerClient
from foxden.worker.thumbnails import make_thumbnail


def upload_output(client: WorkerClient, lease_id: int, out_dir: Path, path: Path) -> OutputFile:
    """Upload one output file of lease `lease_id` and its thumbnail; returns the reference to
    report (the server accepts in a report only blobs uploaded for its lease)."""
    digest, size = file_digest(path)
    client.upload(lease_id, digest, path)
    thumb_hash: str | None = None
    thumb = make_thumbnail(path)
    if thumb is not None:
        thumb_hash = hashlib.sha256(thumb).hexdigest()
        client.upload(lease_id, thumb_hash, thumb)
    return OutputFile(
        name=path.relative_to(out_dir).as_posix(), hash=digest, size=size, thumbnail=thumb_hash
    )
