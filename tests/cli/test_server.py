"""The server's commands: accounts made and keys rotated from the shell, blob collection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.waiting import wait_until


def test_cli_creates_account_and_key_is_stored_only_hashed(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "foxden.cli",
            "account",
            "create",
            "carol",
            "--admin",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    record = json.loads(out.stdout)
    assert record["account"] == "carol" and len(record["access_key"]) >= 40
    raw = (tmp_path / "foxden.db").read_bytes()
    assert record["access_key"].encode() not in raw
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "foxden.cli",
            "account",
            "create",
            "carol",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 1 and "already exists" in again.stderr


def test_cli_rotates_a_key(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "foxden.cli", "account"]
    first = json.loads(
        subprocess.run(
            [*base, "create", "zed", "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    second = json.loads(
        subprocess.run(
            [*base, "rotate-key", "zed", "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert second["account"] == "zed" and second["access_key"] != first["access_key"]
    from foxden.db.engine import Database
    from foxden.errors import Unauthorized
    from foxden.farm.accounts import authenticate

    db = Database(f"sqlite:///{tmp_path / 'foxden.db'}")
    try:
        with db.read() as conn:
            assert authenticate(conn, second["access_key"]).name == "zed"
            with pytest.raises(Unauthorized):
                authenticate(conn, first["access_key"])
    finally:
        db.dispose()


def test_gc_command(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "foxden.cli", "gc", "--data-dir", str(tmp_path), "--dry-run"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == {"dry_run": True, "blobs": 0, "bytes": 0, "partial_uploads": 0}


FOXDEN = [sys.executable, "-m", "foxden.cli"]


def _serve_log(tmp_path: Path, level: str | None) -> str:
    """Start `foxden serve` at `level` (FOXDEN_LOG_LEVEL), wait until it answers, stop it."""
    env = {k: v for k, v in os.environ.items() if k != "FOXDEN_LOG_LEVEL"}
    if level is not None:
        env["FOXDEN_LOG_LEVEL"] = level
    port = free_port()
    log_path = tmp_path / f"serve-{level}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [*FOXDEN, "serve", "--data-dir", str(tmp_path / "farm"), "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:

        def healthy() -> bool:
            assert proc.poll() is None, log_path.read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until("the server to answer", healthy, timeout=30)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return log_path.read_text()


def test_serve_honours_foxden_log_level(tmp_path: Path) -> None:
    assert "Application startup complete" in _serve_log(tmp_path, "debug")
    assert "Application startup complete" not in _serve_log(tmp_path, None)  # info: quiet uvicorn
