"""The hash cache."""

from __future__ import annotations

import os
import time
from pathlib import Path

from foxden.client.hashcache import HashCache


def test_hash_cache_skips_unchanged_files(tmp_path: Path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(b"x" * 1000)
    past = time.time() - 100
    os.utime(f, (past, past))
    cache = HashCache(tmp_path / "h.sqlite")
    first, _ = cache.hash(f)
    cache.flush()
    assert cache.bytes_hashed == 1000
    again = HashCache(tmp_path / "h.sqlite")
    assert again.hash(f)[0] == first and again.bytes_hashed == 0
    f.write_bytes(b"y" * 1000)  # same size, new mtime
    assert again.hash(f)[0] != first and again.bytes_hashed == 1000


def test_hash_cache_does_not_trust_racy_entries(tmp_path: Path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(b"fresh")
    cache = HashCache(tmp_path / "h.sqlite")
    cache.hash(f)
    cache.hash(f)  # written just now: could still change within the same mtime tick
    assert cache.bytes_hashed == 10
