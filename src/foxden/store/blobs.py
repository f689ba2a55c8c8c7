"""A content-addressed blob store on a local directory, with resumable verified uploads."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path
from typing import BinaryIO

from foxden.digests import file_digest
from foxden.errors import BadRequest, Conflict, TransferError

_HASH = re.compile(r"^[0-9a-f]{64}$")
COPY_CHUNK = 1 << 20


def check_hash(digest: str) -> str:
    """Validate a SHA-256 hex digest (lower case)."""
    if not _HASH.match(digest or ""):
        raise BadRequest(f"{digest!r} is not a SHA-256 hex digest (64 lower-case hex digits)")
    return digest


class BlobStore:
    """Blobs under `root/ab/cd/<hash>`; partial uploads under `root/partial/<owner>-<hash>`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "partial").mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        """Where the blob `digest` lives (whether or not it exists)."""
        check_hash(digest)
        return self.root / digest[:2] / digest[2:4] / digest

    def exists(self, digest: str) -> bool:
        """Whether the blob is stored."""
        return self.path(digest).exists()

    def _partial(self, owner: str, digest: str) -> Path:
        check_hash(digest)
        if not re.match(r"^[a-z0-9]+$", owner):
            raise BadRequest("bad upload owner")
        return self.root / "partial" / f"{owner}-{digest}"

    def received(self, owner: str, digest: str) -> int:
        """Bytes of `digest` already received from `owner` (for resuming)."""
        part = self._partial(owner, digest)
        return part.stat().st_size if part.exists() else 0

    def append(
        self, owner: str, digest: str, offset: int, data: bytes, chunk_hash: str | None, total: int
    ) -> int:
        """Append one verified chunk at `offset`; returns bytes received so far.

        A chunk whose SHA-256 differs from `chunk_hash` is rejected (send it again); an offset
        that is not where the partial file ends gets a Conflict naming the right offset.
        """
        if chunk_hash is not None and hashlib.sha256(data).hexdigest() != chunk_hash:
            raise TransferError(
                f"chunk at offset {offset} of {digest} arrived corrupted: send it again"
            )
        part = self._partial(owner, digest)
        have = part.stat().st_size if part.exists() else 0
        if offset != have:
            raise Conflict(f"upload of {digest} continues at offset {have}, not {offset}")
        if have + len(data) > total:
            raise BadRequest(f"upload of {digest} is longer than its declared size {total}")
        with part.open("ab") as fh:
            fh.write(data)
        return have + len(data)

    def complete(self, owner: str, digest: str) -> int:
        """Verify a fully received upload and move it into the store; returns its size."""
        part = self._partial(owner, digest)
        if not part.exists():
            raise Conflict(f"no upload of {digest} in progress")
        actual, _size = file_digest(part)
        if actual != digest:
            part.unlink(missing_ok=True)
            raise TransferError(
                f"upload of {digest} arrived as {actual}: it was corrupted; upload it again"
            )
        size = part.stat().st_size
        dest = self.path(digest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            part.unlink()
        else:
            os.replace(part, dest)
        return size

    def put_whole(self, data: bytes | bytearray | memoryview, digest: str) -> int:
        """Store a blob sent in one piece, verifying its hash; returns its size."""
        actual = hashlib.sha256(data).hexdigest()
        if actual != check_hash(digest):
            raise TransferError(
                f"upload of {digest} arrived as {actual}: it was corrupted; send it again"
            )
        dest = self.path(digest)
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.root / "partial" / f"whole-{digest}-{os.getpid()}-{threading.get_ident()}"
            tmp.write_bytes(data)
            os.replace(tmp, dest)
        return len(data)

    def put_stream(self, stream: BinaryIO, digest: str) -> int:
        """Store a whole stream, verifying its hash (used for worker outputs)."""
        check_hash(digest)
        dest = self.path(digest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.root / "partial" / f"stream-{digest}-{os.getpid()}-{id(stream)}"
        h = hashlib.sha256()
        size = 0
        with tmp.open("wb") as fh:
            while chunk := stream.read(COPY_CHUNK):
                h.update(chunk)
                fh.write(chunk)
                size += len(chunk)
        if h.hexdigest() != digest:
            tmp.unlink(missing_ok=True)
            raise TransferError(f"blob arrived as {h.hexdigest()}, not {digest}: upload it again")
        os.replace(tmp, dest)
        return size
