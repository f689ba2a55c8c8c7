"""HTTPS with the farm's own self-signed certificate: `Client` and `Fox` trust it with `verify=`
and say clearly when they do not."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from foxden import Fox
from foxden.client.api import Client
from foxden.errors import UntrustedCertificate
from foxden.wire.worker import SoftwareEntry, WorkerRegister
from foxden.worker.protocol import WorkerClient
from tests.conftest import LiveServer


def _cert(server: LiveServer) -> Path:
    return server.data_dir / "tls" / "cert.pem"


def test_client_and_fox_work_over_https_with_the_farm_certificate(
    tls_server: LiveServer, project_tree: Path
) -> None:
    assert tls_server.url.startswith("https://127.0.0.1:")
    worker = WorkerClient(tls_server.url, threading.Event(), verify=_cert(tls_server))
    software = [SoftwareEntry(name="command", version="1")]
    worker.register(tls_server.farm.join_key, WorkerRegister(name="w", software=software))
    worker.close()
    with Client(tls_server.url, tls_server.user_key, verify=_cert(tls_server)) as farm:
        assert farm.login().name == "alice"
        farm.create_project("tls", "command 1")
        stats = farm.upload([project_tree / "shot"])
        assert stats.files_sent == 1
    fox = Fox(
        tls_server.url, "alice", tls_server.user_key, verify=str(_cert(tls_server)), progress=False
    )
    with fox:
        scene = str(project_tree / "shot" / "lgt.ma")
        fox.upload(path_list=[scene])
        task_id = fox.submit_task(project_name="tls", input_scene_path=scene, frames="1-2")
        assert fox.get_tasks(task_id=task_id)[0]["task_id"] == task_id


def test_an_untrusted_certificate_fails_at_once_with_a_clear_message(
    tls_server: LiveServer,
) -> None:
    started = time.monotonic()
    with pytest.raises(UntrustedCertificate, match=r"certificate is not trusted.*--ca-cert FILE"):
        Fox(tls_server.url, "alice", tls_server.user_key)
    with (
        Client(tls_server.url, tls_server.user_key) as farm,
        pytest.raises(UntrustedCertificate, match="foxden up --tls printed its path"),
    ):
        farm.login()
    worker = WorkerClient(tls_server.url, threading.Event())  # retries for ever, but not this
    with pytest.raises(UntrustedCertificate, match="register: the farm's certificate"):
        worker.register(tls_server.farm.join_key, WorkerRegister(name="w"))
    worker.close()
    assert time.monotonic() - started < 5  # not retried: a certificate does not become trusted


def test_a_missing_ca_file_is_named(tls_server: LiveServer, tmp_path: Path) -> None:
    with pytest.raises(UntrustedCertificate, match="does not exist"):
        Client(tls_server.url, tls_server.user_key, verify=tmp_path / "nope.pem")
