"""The worker's input cache: blobs keyed by SHA-256, verified on arrival, size-bounded, LRU evicted.

Files live at `<root>/<hash[:2]>/<hash>`, read-only (workspaces hard-link them, so a renderer
that wrote to an input would otherwise damage the cache). A download goes to `<root>/tmp/` and is
renamed into place only once its size and hash match. The least recently used blobs are evicted
when the total passes `max_bytes`, except those pinned by a workspace being laid out. Use times are
kept in the files' mtimes so that they survive restarts.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import uuid
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from foxden.worker.protocol import CorruptDownload, InputMissing, WorkerClient

log = logging.getLogger("foxden.worker")
_CHUNK = 1 << 20
MAX_DAMAGED = 3  # damaged arrivals of one blob before the worker gives up on it


class InputDamaged(InputMissing):
    """An input kept arriving damaged: the farm's copy (or the way to it) is broken."""


class BlobCache:
    """A content-addressed, size-bounded local cache of input blobs (thread-safe)."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._fetching: dict[str, threading.Lock] = {}
        self._pins: Counter[str] = Counter()
        self._entries: OrderedDict[str, int] = OrderedDict()  # hash -> size, oldest use first
        self._damaged: Counter[str] = (
            Counter()
        )  # damaged arrivals per blob, since its last good one
        self._tmp = root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        for stale in self._tmp.iterdir():
            with contextlib.suppress(OSError):
                stale.unlink()
        self._load()

    def _load(self) -> None:
        found: list[tuple[float, str, int]] = []
        for sub in self.root.iterdir():
            if len(sub.name) != 2 or not sub.is_dir():
                continue
            for blob in sub.iterdir():
                with contextlib.suppress(OSError):
                    st = blob.stat()
                    found.append((st.st_mtime, blob.name, st.st_size))
        for _mtime, digest, size in sorted(found):
            self._entries[digest] = size

    @property
    def total_bytes(self) -> int:
        """Bytes held now."""
        with self._lock:
            return sum(self._entries.values())

    def path(self, digest: str) -> Path:
        """Where blob `digest` lives (whether or not it is there)."""
        return self.root / digest[:2] / digest

    def __contains__(self, digest: str) -> bool:
        with self._lock:
            return digest in self._entries

    @contextmanager
    def pinned(self, digests: Iterable[str]) -> Iterator[None]:
        """Keep `digests` from eviction while the block runs."""
        keys = list(digests)
        with self._lock:
            self._pins.update(keys)
        try:
            yield
        finally:
            with self._lock:
                self._pins.subtract(keys)
                self._pins += Counter()  # drop zero counts

    def get(self, digest: str, size: int, client: WorkerClient) -> Path:
        """The local path of blob `digest`, downloading (and verifying) it if needed."""
        with self._lock:
            lock = self._fetching.setdefault(digest, threading.Lock())
        with lock:
            path = self.path(digest)
            with self._lock:
                present = digest in self._entries and path.exists()
                if present:
                    self._entries.move_to_end(digest)
            if present:
                with contextlib.suppress(OSError):
                    os.utime(path)
                return path
            client.fetch_to(
                digest, path, lambda reply, dest: self._receive(reply, dest, digest, size)
            )
            with self._lock:
                self._entries[digest] = size
                self._entries.move_to_end(digest)
            self._evict()
            return path

    def _receive(self, reply: httpx.Response, dest: Path, digest: str, size: int) -> None:
        tmp = self._tmp / f"{digest}.{uuid.uuid4().hex}"
        hasher = hashlib.sha256()
        got = 0
        try:
            with tmp.open("wb") as fh:
                for chunk in reply.iter_bytes(_CHUNK):
                    hasher.update(chunk)
                    got += len(chunk)
                    fh.write(chunk)
            if got != size or hasher.hexdigest() != digest:
                what = (
                    f"input {digest[:12]} arrived damaged ({got} bytes, hash "
                    f"{hasher.hexdigest()[:12]}; expected {size} bytes)"
                )
                with self._lock:
                    self._damaged[digest] += 1
                    tries = self._damaged[digest]
                    if tries >= MAX_DAMAGED:
                        del self._damaged[digest]
                if tries >= MAX_DAMAGED:  # not retried any more: the frames fail with this
                    raise InputDamaged(
                        f"{what} {tries} times in a row: it is damaged on the farm or on the way"
                    )
                raise CorruptDownload(what)  # retried
            with self._lock:
                self._damaged.pop(digest, None)
            tmp.chmod(0o444)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def _evict(self) -> None:
        with self._lock:
            total = sum(self._entries.values())
            victims: list[str] = []
            for digest, size in self._entries.items():
                if total <= self.max_bytes:
                    break
                if self._pins[digest] > 0:
                    continue
                victims.append(digest)
                total -= size
            for digest in victims:
                del self._entries[digest]
        for digest in victims:
            with contextlib.suppress(FileNotFoundError):
                self.path(digest).unlink()
            log.info("evicted blob %s from the cache", digest[:12], extra={"event": "cache_evict"})
