"""Uploads and downloads: hash locally (cached), ask once, move only what differs.

Upload: walk the paths (a folder's symbolic links that point outside it are skipped, each named
in a warning, unless `follow_links`; names are Unicode NFC; a name with bidirectional-control
characters stops the upload before anything is sent), hash every file (the quick-check cache
skips unchanged ones), send ONE
manifest (`POST /api/files/check`, per 50,000 files) and send only the blobs the farm lacks, in
parallel. Small blobs (under UPLOAD_BATCH_LIMIT, and smaller than a chunk) go many to a request
(`POST /api/uploads/batch`: a JSON line naming hashes and sizes, then the bytes back to back; a
request costs the farm more than a small file's bytes do); one the farm refuses as corrupted is
sent again on its own. Bigger blobs go in verified chunks
(`PUT /api/uploads/{hash}?offset=&total=`, `X-Prefix-Sha256`: the SHA-256 of the file up to the
chunk's end), first asking where an earlier, interrupted upload stopped (`GET /api/uploads/{hash}`)
and continuing there; a chunk the farm rejects as corrupted is sent again. A file bigger than a
chunk that this run hashes is sent the moment it is hashed (that question also says whether the
farm has it already), so the farm receives while other files are still being hashed; the
manifest check then records it. Finally `POST /api/files/commit` records the new files at their
mirrored paths.

Each byte is hashed once: the pass that hashes a file for the manifest also notes the running
SHA-256 at each chunk boundary (`Marks`), which is what each chunk's `X-Prefix-Sha256` says; a
file whose hash came from the cache is hashed (once) only if the farm lacks it. Request bodies
stream from the files in READ_SIZE pieces: no chunk or batch is held whole in memory (unless a
test's chunk hook reads or replaces `Chunk.data`).

Download: read the task's output manifest, skip files present with the same size and SHA-256,
fetch the rest in parallel: small ones many to a request (`POST /api/blobs/batch`, the reply cut
by the manifest's sizes), the others (and any with a partial download to continue) one by one
with HTTP Range. Each lands in `.<name>.foxden-part`, is verified, and is renamed into place; what
a batch did not deliver intact is fetched on its own. Paths from the server are checked: no
'..', nothing absolute.

Follow (`Downloader.follow`): the same, again and again while the task renders: each poll reads
the task (its status) and then its output manifest, and fetches the outputs not yet handled, so
each frame's files arrive soon after the frame is done; files already here and identical are
skipped (and not hashed again on later polls). It ends once the task is settled (done, failed,
aborted or stopped: a stopped task would wait for someone to resume it) after fetching what its
done frames left. Every call goes through the client's retry policy.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

from foxden.core.states import SETTLED
from foxden.digests import READ_SIZE
from foxden.errors import BadRequest, NotFound, TransferError
from foxden.paths import bidi_controls
from foxden.replies import code_of, error_from
from foxden.retry import RetryableStatus, retry_status
from foxden.wire.api import ManifestCheckOut, UploadStatusOut

if TYPE_CHECKING:
    from foxden.client.api import Client
    from foxden.client.records import OutputFile, Task

MANIFEST_BATCH = 50_000
CHUNK_RETRIES = 3
PART_SUFFIX = ".foxden-part"
BATCH_FILE_LIMIT = 1 << 20  # files smaller than this come down in batches
UPLOAD_BATCH_LIMIT = 8 << 20  # files smaller than this (and than a chunk) go up in batches
BATCH_BYTES = 16 << 20  # content of one batch at most (the farm takes up to 32 MiB)
BATCH_FILES = 500  # files in one batch at most (the farm takes up to 1,000)
MIN_BATCH_BYTES = 256 << 10  # below this, a batch is not split further to keep workers busy
FOLLOW_POLL = 2.0  # seconds between polls of a followed task
MIN_POLL = 0.05
_SETTLED = frozenset(s.value for s in SETTLED)  # a followed task in these is not waited for
T = TypeVar("T")


@dataclass
class TransferStats:
    """What a transfer did; the counters are what tests and benchmarks assert on."""

    files: int = 0  # files considered
    files_skipped: int = 0  # already there, identical
    files_sent: int = 0  # blobs uploaded (or completed)
    files_fetched: int = 0  # files downloaded
    bytes_total: int = 0  # size of every file considered
    bytes_sent: int = 0  # content of upload chunks and batches, resent ones included
    bytes_fetched: int = 0  # response bodies of downloads
    bytes_hashed: int = 0  # bytes read to compute hashes (0 when the cache knew them all)
    chunks_sent: int = 0
    chunks_resent: int = 0  # chunks sent again after the farm rejected them as corrupted
    resumed: int = 0  # transfers that continued where an interrupted one stopped
    batches_sent: int = 0  # upload batches the farm answered
    batches_fetched: int = 0  # download batches the farm answered
    batch_fallbacks: int = 0  # files a batch did not move intact, sent or fetched on their own
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)  # e.g. symbolic links left out
    polls: int = 0  # times a followed task was read
    task_status: str = ""  # a followed task's status when the follow ended
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        """Add to counters (thread-safe)."""
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, Any]:
        """The counters as plain data."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if not k.startswith("_")}


class Chunk:
    """An upload chunk (or batch member) about to be sent; a hook may raise (abort) or replace
    `data` (tests). Its bytes are read only if a hook reads `data`; otherwise they stream from
    the file."""

    def __init__(self, digest: str, path: Path, offset: int, total: int, length: int) -> None:
        self.digest = digest
        self.path = path
        self.offset = offset
        self.total = total
        self.length = length
        self.replaced = False
        self._data: bytes | None = None

    @property
    def data(self) -> bytes:
        """The chunk's bytes (read from the file on first use)."""
        if self._data is None:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                self._data = fh.read(self.length)
        return self._data

    @data.setter
    def data(self, value: bytes) -> None:
        self._data = value
        self.replaced = True

    def pieces(self) -> Iterator[bytes]:
        """The bytes to send, in READ_SIZE pieces (the replacement if a hook set one)."""
        if self.replaced:
            yield self.data
            return
        yield from _read_range(self.path, self.offset, self.length)


def _read_range(path: Path, offset: int, length: int) -> Iterator[bytes]:
    """`length` bytes of `path` from `offset`, in READ_SIZE pieces; a shorter file is an error."""
    with path.open("rb") as fh:
        fh.seek(offset)
        left = length
        while left:
            block = fh.read(min(READ_SIZE, left))
            if not block:
                raise TransferError(f"{path} changed while it was being uploaded: upload it again")
            left -= len(block)
            yield block


class Body:
    """A request body streamed from files: iterable again for each retry of the request."""

    def __init__(self, parts: list[bytes | Chunk]) -> None:
        self.parts = parts
        self.length = sum(len(p) if isinstance(p, bytes) else _sent_length(p) for p in parts)

    def __iter__(self) -> Iterator[bytes]:
        for part in self.parts:
            if isinstance(part, bytes):
                yield part
            else:
                yield from part.pieces()


def _sent_length(chunk: Chunk) -> int:
    return len(chunk.data) if chunk.replaced else chunk.length


ChunkHook = Callable[[Chunk], None]


class _Progress:
    """Rich progress bars on a terminal; nothing otherwise."""

    def __init__(self, enabled: bool | None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled

    @contextmanager
    def task(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        if not self.enabled or total <= 0:
            yield lambda _n: None
            return
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            transient=False,
        ) as bar:
            tid = bar.add_task(label, total=total)
            lock = threading.Lock()

            def advance(n: int) -> None:
                with lock:
                    bar.advance(tid, n)

            yield advance


def plan_batches(
    items: list[T], size: Callable[[T], int], workers: int, *, max_bytes: int = BATCH_BYTES
) -> list[list[T]]:
    """Group `items` (in order) into batches of at most `max_bytes` and BATCH_FILES items.

    A batch that already holds MIN_BATCH_BYTES also ends at its share (1/`workers`) of the
    items or of their bytes, so that a few MiB of small files still keep every transfer busy.
    """
    if not items:
        return []
    share_bytes = math.ceil(sum(size(i) for i in items) / workers)
    share_files = math.ceil(len(items) / workers)
    batches: list[list[T]] = [[]]
    held = 0
    for item in items:
        n, count = size(item), len(batches[-1])
        full = held + n > max_bytes or count >= BATCH_FILES
        shared = held >= MIN_BATCH_BYTES and (held + n > share_bytes or count >= share_files)
        if count and (full or shared):
            batches.append([])
            held = 0
        batches[-1].append(item)
        held += n
    return batches


def encode_batch(blobs: list[Chunk]) -> Body:
    """The body of `POST /api/uploads/batch`: a JSON line of (hash, size), then the bytes."""
    index = {"blobs": [{"hash": c.digest, "size": _sent_length(c)} for c in blobs]}
    head = json.dumps(index, separators=(",", ":")).encode()
    return Body([head + b"\n", *blobs])


class Marks:
    """The running SHA-256 of a file at each multiple of `chunk` bytes below its size, so that
    each chunk can say what the farm's running hash must be once it has the chunk."""

    def __init__(self, chunk: int, prefixes: list[str], digest: str) -> None:
        self.chunk = chunk
        self.prefixes = prefixes  # at chunk, 2 * chunk, ... (below the size)
        self.digest = digest

    def end(self, offset: int, size: int) -> int:
        """Where the chunk starting at `offset` ends: the next boundary, or the file's end."""
        return min((offset // self.chunk + 1) * self.chunk, size)

    def at(self, end: int, size: int) -> str:
        """The SHA-256 of the file's first `end` bytes (`end` a boundary or the size)."""
        return self.digest if end == size else self.prefixes[end // self.chunk - 1]


def hash_with_marks(path: Path, chunk: int) -> tuple[str, int, Marks]:
    """SHA-256, size and `Marks` of a file, in one pass."""
    hasher = hashlib.sha256()
    prefixes: list[str] = []
    size = 0
    step = min(READ_SIZE, chunk)
    with path.open("rb") as fh:
        while True:
            block = fh.read(min(step, chunk - size % chunk))  # never across a boundary
            if not block:
                break
            hasher.update(block)
            size += len(block)
            if size % chunk == 0:
                prefixes.append(hasher.hexdigest())
    if prefixes and size % chunk == 0:
        prefixes.pop()  # the last boundary is the end: the digest itself
    digest = hasher.hexdigest()
    return digest, size, Marks(chunk, prefixes, digest)


# ---- upload -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalFile:
    """A local file about to be uploaded."""

    path: Path
    client_path: str  # what the farm mirrors
    size: int
    mtime: float
    digest: str
    mtime_ns: int
    marks: Marks | None = None  # known when this run hashed the file


@dataclass
class Walk:
    """What an upload found: the files, and the symbolic links it left out (with their targets)."""

    files: list[Path]
    skipped_links: list[tuple[Path, str]]


def walk(paths: list[str], *, follow_links: bool = False) -> Walk:
    """Every regular file named or found under the folders named (absolute, sorted, unique).

    A file named is taken even through a symbolic link. In a folder, a symbolic link whose
    target lies outside that folder is left out (named in `skipped_links`) unless
    `follow_links`; links inside it are followed. Each folder is entered once, so link loops end.
    """
    found: dict[str, Path] = {}
    skipped: list[tuple[Path, str]] = []
    for raw in paths:
        p = Path(os.path.abspath(os.path.expanduser(raw)))
        if p.is_file():
            found[str(p)] = p
        elif p.is_dir():
            _walk_folder(p, follow_links, found, skipped)
        else:
            raise NotFound(f"{raw}: no such file or folder on this machine: check the path")
    for f in found.values():
        _check_name(f)
    return Walk([found[k] for k in sorted(found)], skipped)


def _walk_folder(
    top: Path, follow_links: bool, found: dict[str, Path], skipped: list[tuple[Path, str]]
) -> None:
    root = os.path.realpath(top)
    seen = {root}  # real paths of the folders entered
    pending = [top]
    while pending:
        folder = pending.pop()
        with os.scandir(folder) as entries:
            ordered = sorted(entries, key=lambda e: e.name)
        for entry in ordered:
            path = Path(entry.path)
            if entry.is_symlink():
                target = os.path.realpath(entry.path)
                if not follow_links and not _inside(root, target):
                    skipped.append((path, os.readlink(entry.path)))
                    continue
                if os.path.isdir(target):
                    if target not in seen:
                        seen.add(target)
                        pending.append(path)
                elif os.path.isfile(target):
                    found[str(path)] = path
            elif entry.is_dir(follow_symlinks=False):
                seen.add(os.path.realpath(entry.path))
                pending.append(path)
            elif entry.is_file(follow_symlinks=False):
                found[str(path)] = path


def _inside(root: str, target: str) -> bool:
    try:
        return os.path.commonpath([root, target]) == root
    except ValueError:  # another drive
        return False


def _check_name(path: Path) -> None:
    found = bidi_controls(str(path))
    if found:
        raise BadRequest(
            f"{str(path)!r}: the name holds bidirectional-control character(s) "
            f"{', '.join(found)}, which make it read differently from what it is: rename it "
            "(nothing was uploaded)"
        )


def client_path(path: Path) -> str:
    """The path the farm is told for a local file: Unicode NFC, as the farm keeps names."""
    return unicodedata.normalize("NFC", str(path))


class Uploader:
    """One upload run of a `Client`."""

    def __init__(
        self,
        client: Client,
        *,
        force: bool = False,
        chunk_hook: ChunkHook | None = None,
        follow_links: bool = False,
    ) -> None:
        self.client = client
        self.force = force
        self.follow_links = follow_links
        self.hook = chunk_hook
        self.stats = TransferStats()
        self.progress = _Progress(client.progress)
        self._sent_early: set[str] = set()  # blobs sent as soon as they were hashed

    def run(self, paths: list[str]) -> TransferStats:
        """Upload `paths` (files and folders); returns the stats."""
        start = time.monotonic()
        found = walk(paths, follow_links=self.follow_links)
        for link, target in found.skipped_links:
            self.stats.warnings.append(
                f"skipped {link}: a symbolic link to {target}, outside the folder uploaded "
                "(--follow-links or follow_links=True uploads what it points to)"
            )
        files = self._hash_all(found.files)
        for i in range(0, len(files), MANIFEST_BATCH):
            self._batch(files[i : i + MANIFEST_BATCH])
        self.client.cache.flush()
        self.stats.seconds = time.monotonic() - start
        return self.stats

    def _hash_all(self, paths: list[Path]) -> list[LocalFile]:
        """Each file's SHA-256: from the quick-check cache when unchanged, else read (once)."""
        cache = self.client.cache
        chunk = self.client.chunk_size

        def known(p: Path) -> LocalFile | tuple[Path, int]:
            st = p.stat()
            cached = None if self.force else cache.lookup(p, st)
            if cached is None:
                return p, st.st_size
            return LocalFile(p, client_path(p), st.st_size, st.st_mtime, cached, st.st_mtime_ns)

        def read(p: Path) -> LocalFile:
            st = p.stat()
            while True:
                hashed_ns = time.time_ns()
                digest, size, marks = hash_with_marks(p, chunk)
                after = p.stat()
                self.stats.add(bytes_hashed=size)
                same = (after.st_size, after.st_mtime_ns) == (st.st_size, st.st_mtime_ns)
                if same and size == st.st_size:
                    break
                st = after  # it changed while we read it: again
            cache.remember(p, st, digest, hashed_ns)
            return LocalFile(
                p, client_path(p), st.st_size, st.st_mtime, digest, st.st_mtime_ns, marks
            )

        # the quick check in this thread (a stat and a cache lookup each: threads would only
        # queue on the cache's lock), the reading in parallel
        found = [known(p) for p in paths]
        unknown = [f for f in found if isinstance(f, tuple)]
        hashed: dict[Path, LocalFile] = {}
        claimed: set[str] = set()
        lock = threading.Lock()

        def hash_and_send(p: Path, advance: Callable[[int], None]) -> None:
            """Hash a file; one bigger than a chunk is sent at once (see `_send_blob`)."""
            f = read(p)
            with lock:
                hashed[p] = f
                first = f.digest not in claimed
                claimed.add(f.digest)
            if first and not self.force and f.size > chunk and self._send_blob(f, advance):
                with lock:
                    self._sent_early.add(f.digest)

        early = 0 if self.force else sum(size for _, size in unknown if size > chunk)
        with self.progress.task("upload", early) as advance:
            parallel(
                lambda p: hash_and_send(p, advance), [p for p, _ in unknown], self.client.workers
            )
        files = [hashed[f[0]] if isinstance(f, tuple) else f for f in found]
        self.stats.add(files=len(files), bytes_total=sum(f.size for f in files))
        return files

    def _batch(self, files: list[LocalFile]) -> None:
        manifest = [
            {"path": f.client_path, "size": f.size, "hash": f.digest, "mtime": f.mtime}
            for f in files
        ]
        check = ManifestCheckOut.from_json(
            self.client.request(
                "POST", "/api/files/check", json={"files": manifest}, idempotent=True
            )
        )
        missing = {f.digest for f in files} if self.force else set(check.missing)
        by_hash: dict[str, LocalFile] = {}
        for f in files:
            if f.digest in missing:
                by_hash.setdefault(f.digest, f)
        sent = missing | self._sent_early  # (those sent early are recorded by the check)
        self.stats.add(files_skipped=sum(1 for f in files if f.digest not in sent))
        to_send = list(by_hash.values())
        limit = min(UPLOAD_BATCH_LIMIT, self.client.chunk_size)
        large: list[Any] = [f for f in to_send if f.size >= limit]
        small = [f for f in to_send if f.size < limit]
        jobs = large + plan_batches(small, lambda f: f.size, self.client.workers)

        def send(job: LocalFile | list[LocalFile], advance: Callable[[int], None]) -> None:
            if isinstance(job, list):
                self._send_batch(job, advance)
            else:
                self._send_blob(job, advance)

        with self.progress.task("upload", sum(f.size for f in to_send)) as advance:
            parallel(lambda job: send(job, advance), jobs, self.client.workers)
        # the files the check did not record (`pending`) are those whose content was missing
        todo = [m for m in manifest if m["hash"] in missing]
        if todo:
            self.client.request("POST", "/api/files/commit", json={"files": todo}, idempotent=True)

    def _send_batch(self, files: list[LocalFile], advance: Callable[[int], None]) -> None:
        """Send small blobs in one request; any the farm did not store are sent on their own."""
        blobs: list[Chunk] = []
        for f in files:
            _check_unchanged(f)
            item = Chunk(f.digest, f.path, 0, f.size, f.size)
            if self.hook is not None:
                self.hook(item)
            blobs.append(item)
        body = encode_batch(blobs)
        response = self.client.send(
            "POST",
            "/api/uploads/batch",
            content=body,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(body.length),
            },
            idempotent=True,  # storing verified content by its hash twice is harmless
            ok=(404, 405),
        )
        if response.status_code in (404, 405):  # a farm without batches
            rest = files
        else:
            stored = set(response.json()["stored"])
            self.stats.add(batches_sent=1, bytes_sent=sum(_sent_length(c) for c in blobs))
            for f in files:
                if f.digest in stored:
                    self.stats.add(files_sent=1)
                    advance(f.size)
            rest = [f for f in files if f.digest not in stored]
        self.stats.add(batch_fallbacks=len(rest))
        for f in rest:  # refused as corrupted (or changed since hashing: that is caught there)
            self._send_blob(f, advance)

    def _status(self, digest: str) -> UploadStatusOut:
        return UploadStatusOut.from_json(self.client.request("GET", f"/api/uploads/{digest}"))

    def _marks(self, f: LocalFile) -> Marks:
        """The file's chunk marks: from this run's hashing, else from hashing it now (once)."""
        if f.marks is not None and f.marks.chunk == self.client.chunk_size:
            return f.marks
        digest, size, marks = hash_with_marks(f.path, self.client.chunk_size)
        self.stats.add(bytes_hashed=size)
        if digest != f.digest:
            raise TransferError(f"{f.path} changed while it was being uploaded: upload it again")
        return marks

    def _send_blob(self, f: LocalFile, advance: Callable[[int], None]) -> bool:
        """Send one blob in chunks, each streamed from the file and checked by the farm against
        the running hash it must end at; False when the farm had it already (bigger than a
        chunk: its upload status says so, or where an interrupted upload stopped)."""
        chunk = self.client.chunk_size
        offset = 0
        if f.size > chunk and not self.force:
            status = self._status(f.digest)
            if status.complete:
                advance(f.size)
                return False
            offset = status.offset
            if offset:
                self.stats.add(resumed=1)
                advance(offset)
        marks = self._marks(f) if f.size > chunk else None
        rejected = 0
        while True:
            _check_unchanged(f)
            end = marks.end(offset, f.size) if marks is not None else f.size
            item = Chunk(f.digest, f.path, offset, f.size, end - offset)
            if self.hook is not None:
                self.hook(item)
            body = Body([item])
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Length": str(body.length),
            }
            if marks is not None:
                headers["X-Prefix-Sha256"] = marks.at(end, f.size)
            response = self.client.send(
                "PUT",
                f"/api/uploads/{f.digest}",
                params={"offset": offset, "total": f.size},
                content=body,
                headers=headers,
                ok=(409, 422),
            )
            self.stats.add(bytes_sent=body.length, chunks_sent=1)
            if response.status_code == 422 and code_of(response) != "transfer_error":
                raise error_from(response)
            if response.status_code == 422:  # corrupted on the way: send it again
                rejected += 1
                if rejected > CHUNK_RETRIES:
                    raise TransferError(
                        f"{f.path}: data arrived corrupted {rejected} times: "
                        "check the network (or the file) and upload again"
                    )
                self.stats.add(chunks_resent=1)
            if response.status_code in (409, 422):  # ask the farm where to continue
                status = self._status(f.digest)
                if status.complete:
                    break
                offset = status.offset
                continue
            reply = response.json()
            advance(int(reply["offset"]) - offset)
            offset = int(reply["offset"])
            if reply["complete"]:
                break
        self.stats.add(files_sent=1)
        return True


def parallel(fn: Callable[[Any], None], items: list[Any], workers: int) -> None:
    """Run `fn` on every item in a thread pool; the first error stops what has not started."""
    if not items:
        return
    failed = threading.Event()

    def guarded(item: Any) -> None:
        if failed.is_set():
            return
        try:
            fn(item)
        except BaseException:
            failed.set()
            raise

    pool = ThreadPoolExecutor(min(workers, len(items)))
    try:
        futures = [pool.submit(guarded, item) for item in items]
        wait(futures, return_when=FIRST_EXCEPTION)
        for fut in futures:
            if fut.done() and fut.exception() is not None:
                raise fut.exception()  # type: ignore[misc]
        for fut in futures:
            fut.result()
    finally:
        failed.set()
        pool.shutdown(wait=True, cancel_futures=True)


def _check_unchanged(f: LocalFile) -> None:
    st = f.path.stat()
    if st.st_size != f.size or st.st_mtime_ns != f.mtime_ns:
        raise TransferError(f"{f.path} changed while it was being uploaded: upload it again")


# ---- download ---------------------------------------------------------------------------------


def safe_relative(path: str) -> PurePosixPath:
    """A manifest path as a relative path that stays inside the download folder, or BadRequest."""
    if not path or path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":"):
        raise BadRequest(f"the farm sent an absolute output path {path!r}: refusing to write it")
    parts = path.replace("\\", "/").split("/")
    if any(p in ("", ".", "..") for p in parts) or any("\x00" in p for p in parts):
        raise BadRequest(f"the farm sent an unsafe output path {path!r}: refusing to write it")
    return PurePosixPath(*parts)


class Downloader:
    """One download run of a `Client`."""

    def __init__(self, client: Client, *, force: bool = False) -> None:
        self.client = client
        self.force = force
        self.stats = TransferStats()
        self.progress = _Progress(client.progress)

    def run(
        self, task_id: int, dest: Path, *, under: str = "", flatten: bool = False
    ) -> TransferStats:
        """Download task `task_id`'s outputs under `dest`; returns the stats.

        `under` (a folder of the manifest, e.g. the output folder): only the outputs inside it;
        `flatten`: they land at `dest/<path inside under>` instead of `dest/<path>`.
        """
        start = time.monotonic()
        try:
            plan = self._plan(self.client.outputs(task_id), dest, under, flatten)
            self._get(task_id, plan, bar=True)
        finally:
            self.client.cache.flush()
            self.stats.seconds = time.monotonic() - start
        return self.stats

    def follow(
        self,
        task_id: int,
        dest: Path,
        *,
        under: str = "",
        flatten: bool = False,
        poll: float = FOLLOW_POLL,
        on_progress: Callable[[Task, TransferStats], None] | None = None,
    ) -> TransferStats:
        """Fetch task `task_id`'s outputs as its frames finish, until it is settled (done,
        failed, aborted or stopped); returns the stats (`task_status`: how it ended).

        Polls every `poll` seconds; `on_progress` sees the task and the stats after each poll.
        Ctrl-C (KeyboardInterrupt) stops it between or during fetches: a file being fetched is
        continued by the next download.
        """
        start = time.monotonic()
        handled: set[tuple[str, str]] = set()  # (path, hash) fetched or found here
        try:
            while True:
                task = self.client.task(task_id)  # first: the manifest read next is as new
                manifest = self.client.outputs(task_id)
                self.stats.add(polls=1)
                fresh = [o for o in manifest if (o.path, o.hash) not in handled]
                self._get(task_id, self._plan(fresh, dest, under, flatten), bar=False)
                handled.update((o.path, o.hash) for o in fresh)
                self.stats.task_status = task.status
                self.stats.seconds = time.monotonic() - start
                if on_progress is not None:
                    on_progress(task, self.stats)
                if task.status in _SETTLED:
                    return self.stats
                time.sleep(max(MIN_POLL, poll))
        finally:
            self.client.cache.flush()
            self.stats.seconds = time.monotonic() - start

    def _plan(
        self, manifest: list[OutputFile], dest: Path, under: str, flatten: bool
    ) -> list[tuple[OutputFile, Path]]:
        """Where each output of `manifest` lands (checked to stay inside `dest`)."""
        root = Path(os.path.abspath(dest))
        prefix = safe_relative(under) if under else None
        plan = []
        for o in manifest:
            rel = safe_relative(o.path)
            if prefix is not None:
                if prefix not in rel.parents:
                    continue
                if flatten:
                    rel = rel.relative_to(prefix)
            plan.append((o, root / rel))
        for _, target in plan:
            if root not in target.parents:
                raise BadRequest(f"output {target} would land outside {root}: refusing to write it")
        return plan

    def _get(self, task_id: int, plan: list[tuple[OutputFile, Path]], *, bar: bool) -> None:
        """Fetch the outputs of `plan` that are not here, identical, already."""
        self.stats.add(files=len(plan), bytes_total=sum(o.size for o, _ in plan))
        if not plan:
            return
        # the quick check (one stat and a cache lookup each) in this thread, hashing in parallel
        known = [self._quick_check(item) for item in plan]
        unsure = [item for item, here in zip(plan, known, strict=True) if here is None]
        if unsure:
            with ThreadPoolExecutor(min(self.client.workers, len(unsure))) as pool:
                hashed = iter(list(pool.map(self._present, unsure)))
            known = [next(hashed) if here is None else here for here in known]
        wanted = [item for item, here in zip(plan, known, strict=True) if not here]
        self.stats.add(files_skipped=len(plan) - len(wanted))
        large: list[Any] = []
        small: list[tuple[Any, Path]] = []
        for out, target in wanted:  # a partial download is continued on its own
            batchable = out.size < BATCH_FILE_LIMIT and not _part(target).exists()
            (small if batchable else large).append((out, target))
        jobs = large + plan_batches(small, lambda p: int(p[0].size), self.client.workers)

        def fetch(job: Any, advance: Callable[[int], None]) -> None:
            if isinstance(job, list):
                self._fetch_batch(job, advance)
            else:
                self._fetch(job, advance)

        progress = self.progress if bar else _Progress(False)
        with progress.task(f"download task {task_id}", sum(o.size for o, _ in wanted)) as advance:
            parallel(lambda job: fetch(job, advance), jobs, self.client.workers)

    def _quick_check(self, item: tuple[Any, Path]) -> bool | None:
        """Whether the output is here and identical, by size and the hash cache; None when
        only hashing the file can tell."""
        out, target = item
        if self.force:
            return False
        try:
            st = target.stat()
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode) or st.st_size != out.size:
            return False
        cached = self.client.cache.lookup(target, st)
        return None if cached is None else cached == out.hash

    def _present(self, item: tuple[Any, Path]) -> bool:
        """Whether the output is here and identical, hashing the file."""
        out, target = item
        if not target.is_file():
            return False
        cache = self.client.cache
        before = cache.bytes_hashed
        digest, st = cache.hash(target)
        self.stats.add(bytes_hashed=cache.bytes_hashed - before)
        return bool(digest == out.hash and st.st_size == out.size)

    def _fetch(self, item: tuple[Any, Path], advance: Callable[[int], None]) -> None:
        out, target = item
        target.parent.mkdir(parents=True, exist_ok=True)
        part = _part(target)
        for attempt in range(2):
            digest = self.client.retry.call(lambda: self._stream(out.hash, out.size, part, advance))
            if digest == out.hash:
                os.replace(part, target)
                self.client.cache.remember(target, target.stat(), digest, trusted=True)
                self.stats.add(files_fetched=1)
                return
            part.unlink(missing_ok=True)
            if attempt:
                raise TransferError(
                    f"{target.name} arrived corrupted twice (sha256 {digest}, "
                    f"expected {out.hash}): download again"
                )

    def _fetch_batch(self, batch: list[tuple[Any, Path]], advance: Callable[[int], None]) -> None:
        """Fetch small files in one request (retried for what is left); the rest one by one."""
        done: set[int] = set()
        with suppress(Exception):  # whatever went wrong, fetching alone says it better
            self.client.retry.call(lambda: self._stream_batch(batch, done, advance))
        rest = [item for i, item in enumerate(batch) if i not in done]
        self.stats.add(batch_fallbacks=len(rest))
        for item in rest:
            self._fetch(item, advance)

    def _stream_batch(
        self, batch: list[tuple[Any, Path]], done: set[int], advance: Callable[[int], None]
    ) -> None:
        """Fetch the files of `batch` not in `done`; adds each verified, renamed one to `done`."""
        todo = [i for i in range(len(batch)) if i not in done]
        if not todo:
            return
        hashes = [batch[i][0].hash for i in todo]
        with self.client.http.stream("POST", "/api/blobs/batch", json={"hashes": hashes}) as reply:
            if retry_status(reply.status_code):
                raise RetryableStatus(reply)
            if reply.status_code >= 400:
                reply.read()
                raise error_from(reply)
            self.stats.add(batches_fetched=1)
            blocks = reply.iter_bytes(READ_SIZE)
            pending = memoryview(b"")
            for i in todo:
                out, target = batch[i]
                target.parent.mkdir(parents=True, exist_ok=True)
                part = _part(target)
                h = hashlib.sha256()
                left = int(out.size)
                try:
                    with part.open("wb") as fh:
                        while left:
                            if not pending:
                                block = next(blocks, None)
                                if block is None:
                                    raise TransferError("the batch ended early")
                                self.stats.add(bytes_fetched=len(block))
                                pending = memoryview(block)
                            piece = pending[:left]
                            fh.write(piece)
                            h.update(piece)
                            left -= len(piece)
                            pending = pending[len(piece) :]
                except BaseException:
                    part.unlink(missing_ok=True)
                    raise
                if h.hexdigest() != out.hash:  # damaged on the way: fetched again on its own
                    part.unlink(missing_ok=True)
                    continue
                os.replace(part, target)
                self.client.cache.remember(target, target.stat(), out.hash, trusted=True)
                self.stats.add(files_fetched=1)
                advance(int(out.size))
                done.add(i)

    def _stream(self, digest: str, size: int, part: Path, advance: Callable[[int], None]) -> str:
        """Fetch blob `digest` into `part`, continuing what `part` holds; returns its SHA-256."""
        have = part.stat().st_size if part.exists() else 0
        if have > size:
            part.unlink()
            have = 0
        h = hashlib.sha256()
        if have:
            with part.open("rb") as fh:
                while block := fh.read(READ_SIZE):
                    h.update(block)
            self.stats.add(resumed=1, bytes_hashed=have)
            advance(have)
        if have == size:
            return h.hexdigest()
        headers = {"Range": f"bytes={have}-"} if have else {}
        with self.client.http.stream("GET", f"/api/blobs/{digest}", headers=headers) as response:
            if retry_status(response.status_code):
                raise RetryableStatus(response)
            if response.status_code >= 400:
                response.read()
                raise error_from(response)
            mode = "ab"
            if response.status_code == 200 and have:  # the server sent it all: start over
                mode, h = "wb", hashlib.sha256()
            try:
                with part.open(mode) as fh:
                    for block in response.iter_bytes(READ_SIZE):
                        fh.write(block)
                        h.update(block)
                        self.stats.add(bytes_fetched=len(block))
                        advance(len(block))
            except OSError as exc:
                raise TransferError(f"cannot write {part}: {exc}") from None
        return h.hexdigest()


def _part(target: Path) -> Path:
    """Where a download of `target` is written until it is verified."""
    return target.with_name(f".{target.name}{PART_SUFFIX}")
