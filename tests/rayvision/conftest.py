"""The vendor's unmodified SDK, driven as a user drives it: a Python of its own (`.rayvision-venv`,
made by scripts/test.sh), a script run as a subprocess with its own HOME (the SDK writes its logs
and work files there), and foxden's transmitter as `foxden-transmit --install DIR` writes it.

The SDK pins old versions of requests and urllib3, so it never shares foxden's environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from foxden.client.transmit import install

REPO = Path(__file__).resolve().parents[2]
SDK_VENV = REPO / ".rayvision-venv"
SDK_PACKAGES = ["rayvision-api", "rayvision-sync", "rayvision-utils", "rayvision-blender"]
IMPORTS = "import rayvision_api, rayvision_sync, rayvision_blender"


def _imports(python: Path) -> bool:
    if not python.exists():
        return False
    done = subprocess.run([str(python), "-c", IMPORTS], capture_output=True, timeout=120)
    return done.returncode == 0


@pytest.fixture(scope="session")
def sdk_python() -> Path:
    """The Python of `.rayvision-venv`, made here as scripts/test.sh makes it when missing."""
    python = SDK_VENV / "bin" / "python"
    if _imports(python):
        return python
    steps = [
        [sys.executable, "-m", "venv", str(SDK_VENV)],
        [str(python), "-m", "pip", "install", "-q", *SDK_PACKAGES],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(
                f"cannot make the vendor SDK's environment {SDK_VENV} ({' '.join(step[:4])}... "
                f"failed: {(done.stderr or done.stdout)[-2000:]}): run scripts/test.sh, which "
                "installs it, on a machine that can reach the package index"
            )
    if not _imports(python):
        pytest.fail(f"{SDK_VENV} was made but the SDK does not import: delete it and run again")
    return python


@dataclass
class SdkRun:
    """What a script run with the SDK printed, and its exit status."""

    stdout: str
    stderr: str
    rc: int

    def result(self) -> Any:
        """The JSON the script printed on its last line; fails with the output otherwise."""
        assert self.rc == 0, f"the SDK script failed ({self.rc}):\n{self.stdout}\n{self.stderr}"
        return json.loads(self.stdout.strip().splitlines()[-1])


@dataclass
class Sdk:
    """Runs Python scripts with the SDK, as one user of one farm."""

    python: Path
    home: Path
    env: dict[str, str]

    def run(self, script: str, params: dict[str, Any], *, timeout: float = 300) -> SdkRun:
        """Run `script` (it reads `PARAMS`, a dict) with the SDK; HOME is a test folder."""
        path = self.home / "script.py"
        head = f"import json\nPARAMS = json.loads({json.dumps(json.dumps(params))})\n"
        path.write_text(head + script)
        try:
            done = subprocess.run(
                [str(self.python), str(path)],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
            pytest.fail(f"the SDK script ran past {timeout:g} s:\n{out[-4000:]}\n{err[-4000:]}")
        return SdkRun(done.stdout, done.stderr, done.returncode)


def sdk_env(home: Path, server: str, account: str, access_key: str) -> dict[str, str]:
    """The environment of an SDK script: HOME of its own, foxden's login for the transmitter."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "FOXDEN_SERVER": server,
        "FOXDEN_ACCOUNT": account,
        "FOXDEN_ACCESS_KEY": access_key,
        "FOXDEN_CONFIG_DIR": str(home / "foxden-config"),
        "FOXDEN_CACHE_DIR": str(home / "foxden-cache"),
    }


@pytest.fixture
def sdk_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def transmitter(tmp_path: Path) -> Iterator[Path]:
    """foxden's transmitter as users install it (`foxden-transmit --install DIR`)."""
    yield install(str(tmp_path / "transmitter"))
