"""The real Blender for tests, and the test scenes `scripts/make_scenes.py` builds with it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAKE_SCENES = REPO / "scripts" / "make_scenes.py"


def blender_exe() -> str:
    """Blender on PATH; a test that needs it fails without it (FOXDEN_REQUIRE_BLENDER=0: skips)."""
    exe = shutil.which("blender")
    if exe is None:
        if os.environ.get("FOXDEN_REQUIRE_BLENDER", "1") == "1":
            pytest.fail("Blender is not installed: this test needs the real Blender")
        pytest.skip("Blender is not installed (FOXDEN_REQUIRE_BLENDER=0)")
    return exe


def make_scenes(outdir: Path, *extra: str) -> Path:
    """Build the test scenes into `outdir` (extra arguments go to make_scenes.py)."""
    proc = subprocess.run(
        [
            blender_exe(),
            "-b",
            "--factory-startup",
            "-noaudio",
            "--python-exit-code",
            "1",
            "--python",
            str(MAKE_SCENES),
            "--",
            str(outdir),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return outdir
