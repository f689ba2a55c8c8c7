"""The quick-check cache: (path, size, mtime) -> SHA-256, so unchanged files are not re-read.

It lives in `$FOXDEN_CACHE_DIR`, else `$XDG_CACHE_HOME/foxden`, else `~/.cache/foxden`, as one
SQLite file. An entry is trusted only if the file was last modified at least `RACY_SECONDS` before
it was hashed: a file written in the same instant as it was hashed could change again without its
mtime moving (the "racy clean" problem), so it is hashed again next time. Files the client wrote
itself and verified (downloads) are trusted at once.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

from foxden.digests import file_digest

RACY_SECONDS = 2.0  # FAT file systems keep mtimes to 2 seconds


def cache_dir() -> Path:
    """The client's cache folder (created on demand)."""
    if os.environ.get("FOXDEN_CACHE_DIR"):
        return Path(os.environ["FOXDEN_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "foxden"


class HashCache:
    """A thread-safe SQLite map from (absolute path, size, mtime_ns) to SHA-256."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_dir() / "hashes.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, size INTEGER NOT NULL, "
            "mtime_ns INTEGER NOT NULL, hashed_ns INTEGER NOT NULL, sha256 TEXT NOT NULL)"
        )
        self._db.commit()
        self._pending: list[tuple[str, int, int, int, str]] = []
        self.bytes_hashed = 0

    def lookup(self, path: Path, st: os.stat_result) -> str | None:
        """The cached hash of `path` if its size and mtime are unchanged (and not racy)."""
        with self._lock:
            row = self._db.execute(
                "SELECT size, mtime_ns, hashed_ns, sha256 FROM hashes WHERE path = ?", (str(path),)
            ).fetchone()
        if row is None:
            return None
        size, mtime_ns, hashed_ns, digest = row
        if size != st.st_size or mtime_ns != st.st_mtime_ns:
            return None
        if hashed_ns - mtime_ns < RACY_SECONDS * 1e9:
            return None
        return str(digest)

    def hash(self, path: Path, *, use_cache: bool = True) -> tuple[str, os.stat_result]:
        """The SHA-256 of `path` (from the cache when unchanged) and the stat it applies to."""
        st = path.stat()
        if use_cache:
            cached = self.lookup(path, st)
            if cached is not None:
                return cached, st
        hashed_ns = time.time_ns()
        digest, _size = file_digest(path)
        after = path.stat()
        if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
            return self.hash(path, use_cache=False)  # it changed while we read it
        self.remember(path, st, digest, hashed_ns)
        with self._lock:
            self.bytes_hashed += st.st_size
        return digest, st

    def remember(
        self,
        path: Path,
        st: os.stat_result,
        digest: str,
        hashed_ns: int | None = None,
        *,
        trusted: bool = False,
    ) -> None:
        """Record a hash known for `path` as it is in `st` (flushed by `flush`).

        `trusted`: the caller wrote the file and verified it, so the racy check does not apply.
        """
        when = hashed_ns or time.time_ns()
        if trusted:
            when = max(when, st.st_mtime_ns + int(RACY_SECONDS * 1e9))
        with self._lock:
            self._pending.append((str(path), st.st_size, st.st_mtime_ns, when, digest))
            if len(self._pending) >= 500:
                self._flush_locked()

    def flush(self) -> None:
        """Write remembered hashes to disk."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._pending:
            return
        self._db.executemany("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?)", self._pending)
        self._db.commit()
        self._pending.clear()

    def close(self) -> None:
        """Flush and close."""
        with self._lock:
            self._flush_locked()
            self._db.close()
