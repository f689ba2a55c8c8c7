"""OpenAPI descriptions of replies that are bytes, not JSON (blobs, thumbnails)."""

from __future__ import annotations

from typing import Any


def binary(description: str, media_type: str = "application/octet-stream") -> dict[int | str, Any]:
    """The `responses` of a route whose 200 reply is raw bytes of `media_type`."""
    return {
        200: {
            "description": description,
            "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
        }
    }
