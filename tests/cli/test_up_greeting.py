"""`foxden up` greets its user once ready: the web address, the account it made (or found),
where the key is, and a `foxden login` line that works when pasted."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
from pathlib import Path

from tests.cli.clikit import FOXDEN
from tests.conftest import free_port
from tests.waiting import wait_until


def _up_until_ready(data: Path, port: int, log: Path, env: dict[str, str], check: list[str]) -> str:
    """Run `foxden up --workers 0` until ready, run `check` (a command) then stop it; its output."""
    start = len(log.read_text()) if log.exists() else 0
    with log.open("a") as fh:
        up = subprocess.Popen(
            [*FOXDEN, "up", "--data-dir", str(data), "--port", str(port), "--workers", "0"],
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    try:
        wait_until(
            "foxden up to be ready",
            lambda: "--farm-dir" in log.read_text()[start:] or up.poll() is not None,
            timeout=90,
        )
        assert up.poll() is None, log.read_text()
        if check:
            done = subprocess.run(check, capture_output=True, text=True, timeout=60, env=env)
            assert done.returncode == 0, done.stderr
            assert done.stdout.startswith("logged in as admin on"), done.stdout
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=30) == 0, log.read_text()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    return log.read_text()[start:]


def test_foxden_up_says_where_the_site_is_and_how_to_log_in(tmp_path: Path) -> None:
    data, port, log = tmp_path / "farm", free_port(), tmp_path / "up.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOXDEN_")}
    env.update(FOXDEN_CONFIG_DIR=str(tmp_path / "config"), FOXDEN_CACHE_DIR=str(tmp_path / "cache"))
    url = f"http://127.0.0.1:{port}"

    first = _up_until_ready(data, port, log, env, [])
    creds = json.loads((data / "credentials.json").read_text())
    login_line = next(
        ln.strip() for ln in first.splitlines() if ln.strip().startswith("foxden login")
    )
    assert login_line == (
        f"foxden login --server {url} --account admin --key {creds['access_key']}"
    )
    assert f"web site:  {url}/  (sign in as admin with the key below)" in first
    assert "account:   admin (administrator, created now)" in first
    assert f"key:       in {data / 'credentials.json'} (readable by you only)" in first
    assert f"foxden tasks --farm-dir {data}" in first

    pasted = [*FOXDEN, *shlex.split(login_line)[1:]]  # pasted while the farm runs again
    second = _up_until_ready(data, port, log, env, pasted)
    assert "account:   admin (administrator, found)" in second
    assert login_line in second  # the same key, found again
    stored = json.loads((tmp_path / "config" / "client.json").read_text())
    assert stored["account"] == "admin" and stored["access_key"] == creds["access_key"]
