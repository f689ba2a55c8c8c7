"""A task's outputs as one zip, streamed as it is written (no temporary file)."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath
from typing import Any

from foxden.errors import BlobDamaged
from foxden.store.blobs import BlobStore
from foxden.wire.api import TaskOutputOut

CHUNK = 1 << 20


class _Sink(io.RawIOBase):
    """A write-only, unseekable stream whose bytes are drained after each write."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._written += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._written

    def drain(self) -> bytes:
        """The bytes written since the last drain."""
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def member_name(path: str) -> str:
    """A safe name inside the zip for an output path (no absolute paths, no '..')."""
    parts = [
        p for p in PurePosixPath(path.replace("\\", "/")).parts if p not in ("/", "..", ".", "")
    ]
    return "/".join(parts) or "output"


def zip_stream(store: BlobStore, items: Iterable[TaskOutputOut]) -> Iterator[bytes]:
    """The bytes of a zip holding each output (`path`, `hash`) that is in the store."""
    sink = _Sink()
    stamp = time.localtime()[:6]
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for item in items:
            digest = item.hash
            try:
                path = store.intact_path(digest)
            except BlobDamaged:
                continue  # quarantined and logged: a damaged output is not served
            if path is None:
                continue
            info = zipfile.ZipInfo(member_name(item.path), date_time=stamp)
            with (
                path.open("rb") as source,
                archive.open(info, "w", force_zip64=True) as target,
            ):
                while chunk := source.read(CHUNK):
                    target.write(chunk)
                    yield sink.drain()
            yield sink.drain()
    yield sink.drain()
