"""Thumbnails of rendered frames."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from foxden.worker.thumbnails import make_thumbnail


def test_thumbnail_is_a_small_png(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (1000, 500), (200, 10, 10)).save(path)
    thumb = make_thumbnail(path)
    assert thumb is not None and thumb.startswith(b"\x89PNG")
    (tmp_path / "t.png").write_bytes(thumb)
    with Image.open(tmp_path / "t.png") as img:
        assert max(img.size) == 256
    (tmp_path / "junk.exr").write_bytes(b"\x76\x2f\x31\x01junk")
    assert make_thumbnail(tmp_path / "junk.exr") is None
