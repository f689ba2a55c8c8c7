"""Write the server's OpenAPI document to docs/openapi.json (the committed API contract)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from foxden.server.app import create_app
from foxden.server.config import Settings
from foxden.server.context import Farm

TARGET = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


def render() -> str:
    """The OpenAPI document of the app, as committed."""
    with tempfile.TemporaryDirectory() as tmp:
        farm = Farm.open(Settings(data_dir=Path(tmp)))
        try:
            spec = create_app(farm, start_background=False).openapi()
        finally:
            farm.close()
    return json.dumps(spec, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET}", file=sys.stderr)
