"""A content-addressed blob store on a local directory, with resumable verified uploads.

Every upload is streamed to a temporary file while it is hashed (never held in memory), capped,
and renamed into the store only once its hash matches. A blob that is already stored is received,
hashed and renamed over in just the same way, so an upload takes as long whether or not anyone has
the blob. A full disk is `StorageFull` (507) and leaves no partial file behind.

Each byte is hashed once: an upload in chunks keeps the running SHA-256 of its partial file in
memory (`_Running`, matched to the file by size, mtime and inode), each chunk extends it while
it is written, and the last chunk's state is the blob's hash, so a completed upload is never read
back. Only a partial file this process did not write (another server, or one before a restart) is
hashed from disk first. A chunk may name the running hash it should end at (`prefix_hash`): a
chunk damaged on the way is refused without hashing it a second time.

Reads are verified: a blob is re-hashed before it is served unless this process verified it (same
size, mtime and inode) within `VERIFY_TTL` seconds; one that fails is moved to
`<root>/quarantine/<hash>`, named in the log, and refused (`BlobDamaged`). `foxden fsck`
re-hashes the whole store.

Directories are made 0700 and files 0600: only the server's own user reads the store.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from anyio import to_thread

from foxden.digests import file_digest
from foxden.errors import (
    BadRequest,
    BlobDamaged,
    Conflict,
    PayloadTooLarge,
    StorageFull,
    TransferError,
    quote,
)

log = logging.getLogger("foxden.store")

_HASH = re.compile(r"^[0-9a-f]{64}$")
COPY_CHUNK = 1 << 20
WRITE_BLOCK = 1 << 20  # bytes gathered from a request body before one write to disk
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL
_IOV_MAX = 512  # pieces in one write (the system takes 1,024)
VERIFY_TTL = 3600.0  # seconds a verified blob is served without hashing it again
_VERIFIED_MAX = 100_000  # blobs remembered as verified (the oldest are forgotten first)
_RUNNING_MAX = 10_000  # partial uploads whose running hash is kept (the oldest are forgotten)
_FULL = {errno.ENOSPC, errno.EDQUOT}
DIR_MODE = 0o700
FILE_MODE = 0o600


def is_hash(text: str) -> bool:
    """Whether `text` is a SHA-256 hex digest (lower case)."""
    return bool(_HASH.match(text))


def check_hash(digest: str) -> str:
    """Validate a SHA-256 hex digest (lower case)."""
    if not _HASH.match(digest or ""):
        raise BadRequest(f"{quote(digest)} is not a SHA-256 hex digest (64 lower-case hex digits)")
    return digest


def _full(exc: OSError, what: str) -> StorageFull | None:
    if exc.errno in _FULL:
        return StorageFull(
            f"the farm's storage is full: {what} was not stored; "
            "ask the farm's administrator to free space, then try again"
        )
    return None


def _unlink(path: Path | str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _write_all(fd: int, pieces: list[bytes] | list[memoryview], *hashers: hashlib._Hash) -> None:
    """Hash `pieces` and write them, in one system call where it can (no joined copy)."""
    for piece in pieces:
        for hasher in hashers:
            hasher.update(piece)
    views = [memoryview(piece) for piece in pieces if len(piece)]
    while views:
        written = os.writev(fd, views[:_IOV_MAX])
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if written:
            views[0] = views[0][written:]


async def gather(chunks: AsyncIterable[bytes]) -> AsyncIterator[list[bytes]]:
    """The body's pieces, gathered into groups of about WRITE_BLOCK bytes (fewer writes and
    fewer hops to a thread), each written and hashed piece by piece."""
    pending: list[bytes] = []
    held = 0
    async for piece in chunks:
        if not piece:
            continue
        pending.append(piece)
        held += len(piece)
        if held >= WRITE_BLOCK or len(pending) >= _IOV_MAX:
            yield pending
            pending = []
            held = 0
    if pending:
        yield pending


def _hash_fd(fd: int, size: int) -> hashlib._Hash:
    """The SHA-256 state of the first `size` bytes of an open file."""
    hasher = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    left = size
    while left:
        block = os.read(fd, min(COPY_CHUNK, left))
        if not block:
            break
        hasher.update(block)
        left -= len(block)
    return hasher


@dataclass
class _Running:
    """The SHA-256 state of a partial upload as this process last left the file."""

    size: int
    mtime_ns: int
    ino: int
    hasher: hashlib._Hash

    def matches(self, st: os.stat_result) -> bool:
        return (self.size, self.mtime_ns, self.ino) == (st.st_size, st.st_mtime_ns, st.st_ino)


class BlobStore:
    """Blobs under `root/ab/cd/<hash>`; partial uploads under `root/partial/<owner>-<hash>`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._mkdir(root)
        self._mkdir(root / "partial")
        self._verified: OrderedDict[str, tuple[int, int, int, float]] = OrderedDict()
        self._verified_lock = threading.Lock()
        self._hash_locks = [threading.Lock() for _ in range(64)]
        self._running: OrderedDict[str, _Running] = OrderedDict()
        self._running_lock = threading.Lock()

    @staticmethod
    def _mkdir(path: Path) -> None:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        if path.stat().st_mode & 0o077:
            path.chmod(DIR_MODE)

    def path(self, digest: str) -> Path:
        """Where the blob `digest` lives (whether or not it exists)."""
        check_hash(digest)
        return self.root / digest[:2] / digest[2:4] / digest

    def exists(self, digest: str) -> bool:
        """Whether the blob is stored."""
        return self.path(digest).exists()

    @property
    def quarantine_dir(self) -> Path:
        """Where damaged blobs are put aside."""
        return self.root / "quarantine"

    def is_quarantined(self, digest: str) -> bool:
        """Whether a damaged copy of `digest` was put aside."""
        check_hash(digest)
        return (self.quarantine_dir / digest).exists()

    # -- writing ---------------------------------------------------------------------------------

    def _temp(self, kind: str, digest: str) -> Path:
        return self.root / "partial" / f"{kind}-{digest}-{uuid.uuid4().hex}"

    def _place(self, tmp: Path | str, digest: str, st: os.stat_result | None = None) -> None:
        """Rename a verified file into the store (over an existing copy: the same work either
        way, and a damaged copy is healed); `st`: the file's stat when its writer has it.

        The rename is tried first: its folders are made (0700) only when it finds them missing.
        """
        dest = str(self.path(digest))
        try:
            os.replace(tmp, dest)
        except FileNotFoundError:
            self._make_folders(digest)
            os.replace(tmp, dest)
        self._mark_verified(digest, dest, st)

    def _make_folders(self, digest: str) -> None:
        """Make `ab/` and `ab/cd/` for blob `digest`; one found there is checked to be 0700."""
        top = os.path.join(self.root, digest[:2])
        for folder in (top, os.path.join(top, digest[2:4])):
            try:
                os.mkdir(folder, DIR_MODE)  # the umask can only take bits away from 0700
            except FileExistsError:
                self._mkdir(Path(folder))

    async def receive_stream(
        self,
        chunks: AsyncIterable[bytes],
        digest: str,
        *,
        limit: int,
        size: int | None = None,
    ) -> int:
        """Store a streamed body as blob `digest`, verifying its hash; returns its size.

        The body goes to a temporary file while it is hashed; more than `limit` bytes is
        `PayloadTooLarge`, a length other than `size` (when given) or another hash is
        `TransferError`, a full disk `StorageFull`. Nothing is left behind on any failure.
        """
        check_hash(digest)
        tmp = self._temp("stream", digest)
        hasher = hashlib.sha256()
        got = 0
        fd = -1
        placed = False
        try:
            # files are opened, closed and placed in a thread too: a slow disk's metadata
            # work must not hold up the event loop (and every other request with it)
            fd = await to_thread.run_sync(os.open, tmp, _NEW_FILE, FILE_MODE)
            async for block in gather(chunks):
                got += sum(map(len, block))
                if got > limit:
                    raise PayloadTooLarge(
                        f"upload of {digest} is larger than {limit} bytes, the most it may hold"
                    )
                await to_thread.run_sync(_write_all, fd, block, hasher)
            if size is not None and got != size:
                raise TransferError(
                    f"upload of {digest} arrived with {got} bytes, not the {size} it declared: "
                    "send it again"
                )
            if hasher.hexdigest() != digest:
                raise TransferError(
                    f"upload of {digest} arrived as {hasher.hexdigest()}: it was corrupted; "
                    "send it again"
                )
            closing, fd = fd, -1
            await to_thread.run_sync(self._close_and_place, closing, tmp, digest)
            placed = True
            return got
        except OSError as exc:
            full = _full(exc, f"upload of {digest}")
            if full is not None:
                raise full from exc
            raise
        finally:
            if fd >= 0:
                os.close(fd)
            if not placed:
                _unlink(tmp)

    def _close_and_place(self, fd: int, tmp: Path, digest: str) -> None:
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        self._place(tmp, digest, st)

    def received(self, owner: str, digest: str) -> int:
        """Bytes of `digest` already received from `owner` (for resuming)."""
        part = self._partial(owner, digest)
        return part.stat().st_size if part.exists() else 0

    def _partial(self, owner: str, digest: str) -> Path:
        check_hash(digest)
        if not re.match(r"^[a-z0-9]+$", owner):
            raise BadRequest("bad upload owner")
        return self.root / "partial" / f"{owner}-{digest}"

    def _open_partial(self, part: Path) -> int:
        fd = os.open(part, os.O_RDWR | os.O_CREAT, FILE_MODE)  # read: see _hash_fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise Conflict(
                "another upload of this file is in progress: wait for it, then ask where to "
                "continue (GET /api/uploads/{hash})"
            ) from None
        return fd

    async def receive_chunk(
        self,
        owner: str,
        digest: str,
        offset: int,
        total: int,
        chunks: AsyncIterable[bytes],
        chunk_hash: str | None,
        prefix_hash: str | None = None,
    ) -> int:
        """Append one streamed chunk at `offset` of `owner`'s upload of `digest`; returns the
        bytes received so far.

        The chunk is checked against `prefix_hash` (the SHA-256 of the blob's bytes up to the
        end of this chunk; extends the running hash, so each byte is hashed once) and
        `chunk_hash` (the SHA-256 of the chunk alone, older clients: hashed a second time): a
        chunk failing either is rejected (send it again); an offset that is not where the
        partial upload ends gets a Conflict naming the right offset; a chunk running past
        `total` is `PayloadTooLarge`. A failed chunk leaves the upload as it was before it; a
        full disk drops the whole partial upload.
        """
        part = self._partial(owner, digest)
        try:
            fd = await to_thread.run_sync(self._open_partial, part)
        except OSError as exc:
            full = _full(exc, f"upload of {digest}")
            if full is not None:
                raise full from exc
            raise
        st = os.fstat(fd)
        have = st.st_size
        before: hashlib._Hash | None = None
        try:
            if offset != have:
                raise Conflict(f"upload of {digest} continues at offset {have}, not {offset}")
            running = self._take_running(part, st)
            from_disk = running is None and have > 0
            if running is None:  # written by another process (or before a restart)
                running = await to_thread.run_sync(_hash_fd, fd, have)
            before = running.copy()
            hashers = [running] if chunk_hash is None else [running, hashlib.sha256()]
            os.lseek(fd, have, os.SEEK_SET)
            got = 0
            async for block in gather(chunks):
                got += sum(map(len, block))
                if have + got > total:
                    raise PayloadTooLarge(
                        f"upload of {digest} is longer than its declared size {total}"
                    )
                await to_thread.run_sync(_write_all, fd, block, *hashers)
            damaged = prefix_hash is not None and running.hexdigest() != prefix_hash
            if (chunk_hash is not None and hashers[-1].hexdigest() != chunk_hash) or (
                damaged and not from_disk
            ):
                raise TransferError(
                    f"chunk at offset {offset} of {digest} arrived corrupted: send it again"
                )
            if damaged:  # what was on disk may be what is wrong: this upload starts over
                have, before = 0, None  # (so that the undo below removes the partial file)
                raise TransferError(
                    f"upload of {digest} does not match the data received before: "
                    "send it again from the start"
                )
            self._keep_running(part, os.fstat(fd), running)
            return have + got
        except OSError as exc:
            full = _full(exc, f"upload of {digest}")
            if full is not None:
                _unlink(part)
                raise full from exc
            self._undo(fd, part, have, before)
            raise
        except BaseException:
            self._undo(fd, part, have, before)
            raise
        finally:
            os.close(fd)

    def _take_running(self, part: Path, st: os.stat_result) -> hashlib._Hash | None:
        """The running hash of `part` as it is now (`st`), if this process wrote it last."""
        with self._running_lock:
            running = self._running.pop(str(part), None)
        return running.hasher if running is not None and running.matches(st) else None

    def _keep_running(self, part: Path, st: os.stat_result, hasher: hashlib._Hash) -> None:
        with self._running_lock:
            self._running[str(part)] = _Running(st.st_size, st.st_mtime_ns, st.st_ino, hasher)
            while len(self._running) > _RUNNING_MAX:
                self._running.popitem(last=False)

    def _undo(self, fd: int, part: Path, have: int, before: hashlib._Hash | None) -> None:
        if have == 0:
            _unlink(part)
            return
        if os.fstat(fd).st_size != have:
            os.ftruncate(fd, have)
        if before is not None:  # the file is as it was: so is its running hash
            self._keep_running(part, os.fstat(fd), before)

    def complete(self, owner: str, digest: str) -> int:
        """Verify a fully received upload and move it into the store; returns its size.

        Its hash is the running hash its chunks left (no re-read), unless another process
        wrote it: then it is read and hashed.
        """
        part = self._partial(owner, digest)
        try:
            st = part.stat()
        except FileNotFoundError:
            raise Conflict(f"no upload of {digest} in progress") from None
        running = self._take_running(part, st)
        if running is not None:
            actual, size = running.hexdigest(), st.st_size
        else:
            actual, size = file_digest(part)
        if actual != digest:
            _unlink(part)
            raise TransferError(
                f"upload of {digest} arrived as {actual}: it was corrupted; upload it again"
            )
        try:
            self._place(part, digest, st if running is not None else None)
        except OSError as exc:
            _unlink(part)
            full = _full(exc, f"upload of {digest}")
            if full is not None:
                raise full from exc
            raise
        return size

    def put_whole(self, data: bytes | bytearray | memoryview, digest: str) -> int:
        """Store a blob held in memory (a batch member), verifying its hash; returns its size.

        The bytes are written and renamed into place whether or not the blob is stored already.
        """
        actual = hashlib.sha256(data).hexdigest()
        if actual != check_hash(digest):
            raise TransferError(
                f"upload of {digest} arrived as {actual}: it was corrupted; send it again"
            )
        tmp = self._temp("whole", digest)
        try:
            fd = os.open(tmp, _NEW_FILE, FILE_MODE)
            try:
                _write_all(fd, [memoryview(data)])
            finally:
                os.close(fd)
            self._place(tmp, digest)
        except OSError as exc:
            full = _full(exc, f"upload of {digest}")
            if full is not None:
                raise full from exc
            raise
        finally:
            _unlink(tmp)
        return len(data)

    def batch_writer(self, entries: list[tuple[str, int]]) -> BatchWriter:
        """A writer for an upload batch's members, (hash, size) each, in the body's order."""
        return BatchWriter(self, entries)

    # -- reading ---------------------------------------------------------------------------------

    def _mark_verified(
        self, digest: str, path: Path | str, st: os.stat_result | None = None
    ) -> None:
        st = os.stat(path) if st is None else st
        with self._verified_lock:
            self._verified[digest] = (st.st_size, st.st_mtime_ns, st.st_ino, time.monotonic())
            self._verified.move_to_end(digest)
            while len(self._verified) > _VERIFIED_MAX:
                self._verified.popitem(last=False)

    def _recently_verified(self, digest: str, st: os.stat_result) -> bool:
        with self._verified_lock:
            seen = self._verified.get(digest)
        if seen is None:
            return False
        size, mtime_ns, ino, when = seen
        return (size, mtime_ns, ino) == (
            st.st_size,
            st.st_mtime_ns,
            st.st_ino,
        ) and time.monotonic() - when < VERIFY_TTL

    def intact_path(self, digest: str) -> Path | None:
        """The path of blob `digest` once its content is known to match its hash.

        None when the blob is not stored; `BlobDamaged` when it fails its hash (it is then
        quarantined) or was quarantined before.
        """
        path = self.path(digest)
        try:
            st = path.stat()
        except FileNotFoundError:
            if self.is_quarantined(digest):
                raise BlobDamaged() from None
            return None
        if self._recently_verified(digest, st):
            return path
        with self._hash_locks[int(digest[:2], 16) % len(self._hash_locks)]:
            try:
                st = path.stat()
            except FileNotFoundError:
                if self.is_quarantined(digest):
                    raise BlobDamaged() from None
                return None
            if self._recently_verified(digest, st):
                return path
            if not self.verify(digest):
                raise BlobDamaged()
        return path

    def hashes_right(self, digest: str) -> bool:
        """Whether blob `digest`'s content hashes to `digest` (nothing is moved)."""
        return file_digest(self.path(digest))[0] == digest

    def verify(self, digest: str) -> bool:
        """Re-hash blob `digest`: True when intact; False after quarantining a damaged one."""
        path = self.path(digest)
        actual, _size = file_digest(path)
        if actual == digest:
            self._mark_verified(digest, path)
            return True
        self.quarantine(digest, f"its content hashes to {actual}")
        return False

    def quarantine(self, digest: str, reason: str) -> Path | None:
        """Move a damaged blob to `quarantine/<hash>` and say so in the log; returns where."""
        with self._verified_lock:
            self._verified.pop(digest, None)
        self._mkdir(self.quarantine_dir)
        dest = self.quarantine_dir / digest
        try:
            os.replace(self.path(digest), dest)
        except FileNotFoundError:
            return None
        log.error(
            "blob %s is damaged (%s): moved to %s",
            digest,
            reason,
            dest,
            extra={"event": "blob_quarantined", "hash": digest},
        )
        return dest


class BatchWriter:
    """The members of an upload batch written to temporary files as the body streams in.

    `write` takes the body's bytes after its index line, in any pieces; each member is hashed
    while it is written, and is ready (its hash matched) or refused (it did not) once its last
    byte is in. Nothing is in the store until `place` moves the ready ones in, so a batch cut
    short or carrying too much is dropped whole by `discard`. No member is held in memory.
    Runs in a thread (its calls block on the disk), one call at a time.
    """

    def __init__(self, store: BlobStore, entries: list[tuple[str, int]]) -> None:
        self.store = store
        self.entries = entries
        self.received = 0  # bytes written to members
        self.extra = 0  # bytes past the last member
        self.ready: list[tuple[str, os.stat_result, str]] = []  # hash, stat, temporary file
        self.refused: list[tuple[str, str]] = []
        self._at = 0  # the member being written
        self._fd = -1
        self._tmp: str | None = None
        # each member's temporary file: this prefix, "-" and its index
        self._prefix = str(store.root / "partial" / f"batch-{uuid.uuid4().hex}")
        self._left = 0
        self._hasher = hashlib.sha256()

    def finished(self) -> bool:
        """Whether every member's bytes arrived (empty members at the end included)."""
        self._settle()
        return self._at == len(self.entries)

    def _settle(self) -> None:
        """Open the member to write next; close, check and set aside those fully written."""
        while self._at < len(self.entries):
            digest, size = self.entries[self._at]
            if self._fd < 0:
                self._tmp = f"{self._prefix}-{self._at}"
                self._fd = os.open(self._tmp, _NEW_FILE, FILE_MODE)
                self._hasher = hashlib.sha256()
                self._left = size
            if self._left:
                return
            fd, self._fd = self._fd, -1
            try:
                st = os.fstat(fd)
            finally:
                os.close(fd)
            tmp, self._tmp = self._tmp, None
            assert tmp is not None
            actual = self._hasher.hexdigest()
            if actual == digest:
                self.ready.append((digest, st, tmp))
            else:
                _unlink(tmp)
                self.refused.append(
                    (
                        digest,
                        f"upload of {digest} arrived as {actual}: it was corrupted; send it again",
                    )
                )
            self._at += 1

    def write(self, pieces: list[bytes]) -> None:
        """Write the next bytes of the body (after its index line) to the members they belong to."""
        try:
            for piece in pieces:
                view = memoryview(piece)
                while view:
                    self._settle()
                    if self._at == len(self.entries):
                        self.extra += len(view)
                        break
                    part = view[: self._left]
                    _write_all(self._fd, [part], self._hasher)
                    self._left -= len(part)
                    self.received += len(part)
                    view = view[len(part) :]
            self._settle()
        except OSError as exc:
            full = _full(exc, "the batch")
            if full is not None:
                raise full from exc
            raise

    def place(self) -> list[tuple[str, int]]:
        """Move the members that verified into the store; returns their (hash, size)."""
        placed: list[tuple[str, int]] = []
        try:
            for digest, st, tmp in self.ready:
                self.store._place(tmp, digest, st)
                placed.append((digest, st.st_size))
        except OSError as exc:
            full = _full(exc, "the batch")
            if full is not None:
                raise full from exc
            raise
        finally:
            self.discard()
        return placed

    def discard(self) -> None:
        """Remove every temporary file left (all of them, unless `place` moved them)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._tmp is not None:
            _unlink(self._tmp)
            self._tmp = None
        for _digest, _st, tmp in self.ready:
            _unlink(tmp)
        self.ready = []
