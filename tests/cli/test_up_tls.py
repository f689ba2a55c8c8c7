"""`foxden up --tls`: a self-signed certificate made once, its fingerprint printed, local workers
and `--farm-dir` clients trusting it over HTTPS."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from foxden.cli import main
from foxden.client.settings import login_file
from foxden.server.tls import fingerprint
from tests.conftest import LiveServer, free_port
from tests.waiting import wait_until


def _up(data: Path, port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "foxden.cli", "up", "--data-dir", str(data), "--tls"]
    argv += ["--port", str(port), "--workers", str(workers), "--no-sandbox"]
    with log.open("ab") as fh:
        return subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _run_until_ready(data: Path, port: int, workers: int, log: Path, nth: int) -> str:
    """Start `foxden up --tls`, wait for its `nth` "ready" line, stop it; returns its output."""
    up = _up(data, port, workers, log)
    try:
        wait_until(
            "foxden up --tls to be ready",
            lambda: log.read_text().count("farm ready") == nth or up.poll() is not None,
            timeout=90,
        )
        assert up.poll() is None, log.read_text()
        if nth == 1:  # a --farm-dir client trusts the farm's certificate by itself
            listed = subprocess.run(
                [sys.executable, "-m", "foxden.cli", "projects", "--json", "--farm-dir", str(data)],
                capture_output=True,
                text=True,
                timeout=60,
                env={k: v for k, v in os.environ.items() if k != "FOXDEN_CA_CERT"},
            )
            assert listed.returncode == 0 and json.loads(listed.stdout) == [], listed.stderr
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=30) == 0, log.read_text()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    return log.read_text()


def test_foxden_up_tls_makes_its_certificate_once(tmp_path: Path) -> None:
    data, port, log = tmp_path / "farm", free_port(), tmp_path / "up.log"
    first = _run_until_ready(data, port, 1, log, 1)
    cert = data / "tls" / "cert.pem"
    assert (data / "tls" / "key.pem").stat().st_mode & 0o777 == 0o600
    printed = re.findall(r"SHA-256 fingerprint ([0-9A-F:]{95})", first)
    assert printed == [fingerprint(cert)], first
    assert f"created the farm's self-signed certificate {cert}" in first
    assert f"--ca-cert {cert}" in first
    assert f"farm ready at https://127.0.0.1:{port} with 1 local worker" in first  # it registered
    creds = json.loads((data / "credentials.json").read_text())
    assert creds["render_server"] == f"https://127.0.0.1:{port}"
    assert creds["ca_cert"] == str(cert)

    both = _run_until_ready(data, port, 0, log, 2)
    second = both[len(first) :]
    assert f"using the farm's self-signed certificate {cert}" in second
    assert re.findall(r"SHA-256 fingerprint ([0-9A-F:]{95})", second) == printed


def test_login_stores_the_ca_cert_and_says_when_it_is_missing(
    tls_server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    cert = str(tls_server.data_dir / "tls" / "cert.pem")
    login = ["login", "--server", tls_server.url, "--account", "alice", "--key"]
    assert main([*login, tls_server.user_key]) == 1
    assert "the farm's certificate is not trusted" in capsys.readouterr().err
    assert main([*login, tls_server.user_key, "--ca-cert", cert]) == 0
    assert json.loads(login_file().read_text())["ca_cert"] == cert
    capsys.readouterr()
    assert main(["projects", "--json"]) == 0  # the stored login trusts the farm
    assert json.loads(capsys.readouterr().out) == []
