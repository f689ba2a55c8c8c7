"""Small PNG previews of frame outputs, for the web pages."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image

THUMB_SIZE = 256


def make_thumbnail(path: Path, size: int = THUMB_SIZE) -> bytes | None:
    """A PNG at most `size` pixels on a side, or None if Pillow cannot read the image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.draft("RGB", (size, size))
                img.thumbnail((size, size))
                picture = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    except Exception:
        return None
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
