"""`foxden up` in a subprocess, for end-to-end tests that need a whole farm with local workers."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import free_port
from tests.waiting import wait_until


@contextmanager
def foxden_up(root: Path, workers: int) -> Iterator[dict[str, str]]:
    """Run `foxden up` with `workers` local workers in `root`; yields its credentials.json."""
    data = root / "farm"
    log_path = root / "up.log"
    argv = [sys.executable, "-m", "foxden.cli", "up", "--data-dir", str(data)]
    argv += ["--port", str(free_port()), "--workers", str(workers)]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:

        def ready() -> bool:
            if "ready" in log_path.read_text():
                return True
            assert proc.poll() is None, log_path.read_text()
            return False

        wait_until("foxden up to be ready", ready, timeout=120, every=0.2)
        yield json.loads((data / "credentials.json").read_text())
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
