"""`foxden fsck`: re-hash every stored blob; quarantine the damaged ones."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from foxden.store.blobs import BlobStore, is_hash

Progress = Callable[[int, int, int, int], None]  # blobs done, blobs in all, bytes done, in all


@dataclass
class FsckReport:
    """What a store check found."""

    checked: int = 0
    bytes: int = 0
    damaged: list[str] = field(default_factory=list)  # hashes, now in the quarantine folder
    stray: list[str] = field(default_factory=list)  # files that are not where a blob would be

    @property
    def clean(self) -> bool:
        """Whether nothing was wrong."""
        return not self.damaged and not self.stray


def _stored(store: BlobStore) -> Iterator[Path]:
    for first in sorted(store.root.iterdir()):
        if len(first.name) != 2 or not first.is_dir():
            continue
        for second in sorted(first.iterdir()):
            if second.is_dir():
                yield from sorted(second.iterdir())
            else:
                yield second


def fsck(
    store: BlobStore,
    *,
    quarantine: bool = True,
    progress: Progress | None = None,
    every: float = 2.0,
) -> FsckReport:
    """Re-hash every blob of `store`; damaged ones are quarantined (unless `quarantine` is
    False) and logged. `progress` is called about every `every` seconds and once at the end."""
    files = list(_stored(store))
    sizes = []
    for path in files:
        try:
            sizes.append(path.stat().st_size)
        except FileNotFoundError:
            sizes.append(0)
    total_bytes = sum(sizes)
    report = FsckReport()
    last = time.monotonic()
    for path, size in zip(files, sizes, strict=True):
        digest = path.name
        if not path.is_file() or not is_hash(digest) or path.parent != store.path(digest).parent:
            report.stray.append(str(path.relative_to(store.root)))
            continue
        try:
            intact = store.verify(digest) if quarantine else store.hashes_right(digest)
        except FileNotFoundError:  # removed meanwhile (foxden gc)
            continue
        report.checked += 1
        report.bytes += size
        if not intact:
            report.damaged.append(digest)
        if progress is not None and time.monotonic() - last >= every:
            progress(report.checked, len(files), report.bytes, total_bytes)
            last = time.monotonic()
    if progress is not None:
        progress(report.checked, len(files), report.bytes, total_bytes)
    return report
