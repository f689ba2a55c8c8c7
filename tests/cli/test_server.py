"""The server's commands: accounts made and keys rotated from the shell, blob collection."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


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
