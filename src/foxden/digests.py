"""SHA-256 of files: the content address used by the store, the worker and the client."""

from __future__ import annotations

import hashlib
from pathlib import Path

READ_SIZE = 1 << 20


def file_digest(path: Path) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file, read in 1 MiB pieces."""
    hasher = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(READ_SIZE):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size
