"""`foxden up`: a whole farm in the foreground: the server (uvicorn, in this process) on SQLite
and a local blob folder, and N local worker processes (`foxden worker`, sandboxed unless
`foxden up --no-sandbox`).

On first start an admin account is created and `<data_dir>/credentials.json` (mode 0600) holds
its access key; later starts reuse it. "ready" is printed once every local worker has registered
(so the software they offer is known). SIGINT/SIGTERM stop the workers (which kill their
renderers and release their leases), then the server.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from foxden.cli.server import uvicorn_tls
from foxden.errors import Conflict, FoxdenError
from foxden.farm.accounts import authenticate, create_account
from foxden.farm.workers import list_workers
from foxden.processes import processes_using
from foxden.server.app import create_app, freeze_startup_objects
from foxden.server.config import Settings, apply_log_level
from foxden.server.context import Farm

log = logging.getLogger("foxden.up")
WORKER_STOP_SECONDS = 15.0
REGISTER_TIMEOUT = 120.0


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the main thread handles signals
        pass


@dataclass
class LocalWorker:
    """One local worker process."""

    name: str
    cache: Path
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start (or restart) the worker in its own session, so that a terminal's Ctrl-C
        reaches `foxden up` alone, which then stops the worker."""
        self.proc = subprocess.Popen(
            self.argv, env=self.env, start_new_session=True, stdin=subprocess.DEVNULL
        )

    def stop(self) -> None:
        """Send SIGTERM: the worker kills its renderers and signs off."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait_or_kill(self, deadline: float) -> None:
        """Wait for the worker to end; past `deadline`, kill it and whatever runs in its cache."""
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("worker %s did not stop in time: killing it", self.name)
            self.proc.kill()
            self.proc.wait()
        for pid in processes_using(self.cache):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                continue
            log.warning("killed leftover process %d of worker %s", pid, self.name)


def client_url(settings: Settings) -> str:
    """How local clients reach the server."""
    if settings.public_url:
        return settings.public_url
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"{settings.scheme}://{host}:{settings.port}"


def ensure_credentials(
    farm: Farm, data_dir: Path, url: str, ca_cert: str = ""
) -> tuple[dict[str, str], bool]:
    """The admin credentials of this farm, created on first start; True if created now.

    `ca_cert`: the certificate clients of `--farm-dir` trust (the farm's own, over HTTPS)."""
    path = data_dir / "credentials.json"
    if path.exists():
        creds: dict[str, str] = json.loads(path.read_text())
        if _key_works(farm, creds.get("access_key", "")):
            if creds.get("render_server") != url or creds.get("ca_cert", "") != ca_cert:
                creds["render_server"] = url
                creds.pop("ca_cert", None)
                if ca_cert:
                    creds["ca_cert"] = ca_cert
                _write_private(path, creds)
            return creds, False
        log.warning("the key in %s is not valid for this farm: making a new one", path)
    name = "admin"
    for n in range(1, 100):
        try:
            _record, key = create_account(farm.db, name, admin=True)
            break
        except Conflict:
            name = f"admin{n + 1}"
    else:
        raise FoxdenError("cannot create an admin account for credentials.json")
    creds = {"render_server": url, "account": name, "access_key": key}
    if ca_cert:
        creds["ca_cert"] = ca_cert
    _write_private(path, creds)
    return creds, True


def _key_works(farm: Farm, key: str) -> bool:
    try:
        with farm.db.read() as conn:
            authenticate(conn, key)
    except FoxdenError:
        return False
    return True


def _write_private(path: Path, data: dict[str, str]) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _wait_registered(
    farm: Farm, workers: list[LocalWorker], since: float, stop: threading.Event
) -> list[str]:
    """Wait until every local worker has registered; returns the software they offer."""
    names = {w.name for w in workers}
    deadline = time.monotonic() + REGISTER_TIMEOUT
    while not stop.is_set():
        seen = [w for w in list_workers(farm.db) if w.name in names and w.registered_at >= since]
        if {w.name for w in seen} >= names:
            offered = sorted({f"{s.name} {s.version}".strip() for w in seen for s in w.software})
            return offered
        for w in workers:
            if w.proc is not None and w.proc.poll() is not None:
                raise FoxdenError(f"local worker {w.name} exited with status {w.proc.returncode}")
        if time.monotonic() > deadline:
            raise FoxdenError("local workers did not register in time")
        stop.wait(0.2)
    return []


def run_farm(
    settings: Settings,
    n_workers: int,
    *,
    blender: Path | None = None,
    sandbox: bool = True,
    install_signals: Callable[[Callable[[], None]], None] | None = None,
) -> int:
    """Run the embedded farm until SIGINT/SIGTERM; returns the exit status."""
    stop = threading.Event()
    if install_signals is not None:
        install_signals(stop.set)
    farm = Farm.open(settings)
    server, thread = _start_server(farm, settings)
    url = client_url(settings)
    ca_cert = str(trust) if (trust := trusted_cert(settings)) else ""
    workers: list[LocalWorker] = []
    try:
        creds, created = _announce_credentials(farm, settings.data_dir, url, ca_cert)
        env = dict(os.environ, FOXDEN_JOIN_KEY=farm.join_key)
        if ca_cert:
            env["FOXDEN_CA_CERT"] = ca_cert
        since = time.time() - 1.0
        for worker in _local_workers(settings.data_dir, n_workers, url, env, blender, sandbox):
            worker.start()
            workers.append(worker)
        offered = _wait_registered(farm, workers, since, stop)
        if not stop.is_set():
            print(
                f"foxden farm ready at {url} with {n_workers} local worker(s)"
                f"{' offering ' + ', '.join(offered) if offered else ''}",
                flush=True,
            )
            print(greeting(url, creds, created, settings.data_dir, ca_cert), flush=True)
        _keep_running(workers, stop)
    finally:
        _stop_all(workers, server, thread)
    print("foxden farm stopped", flush=True)
    return 0


def _start_server(farm: Farm, settings: Settings) -> tuple[_ThreadServer, threading.Thread]:
    """Serve the farm's app from a thread; returns once it listens (FoxdenError if it cannot)."""
    app = create_app(farm)
    freeze_startup_objects()
    server = _ThreadServer(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level=apply_log_level(settings),
            **uvicorn_tls(settings),
        )
    )
    thread = threading.Thread(target=server.run, name="foxden-server", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            farm.close()
            raise FoxdenError(f"the server could not start on {settings.host}:{settings.port}")
        time.sleep(0.02)
    return server, thread


def trusted_cert(settings: Settings) -> Path | None:
    """The certificate local workers and `--farm-dir` clients trust: the farm's own when it
    is the self-signed one of `foxden up --tls`, else none (a CA-issued one is trusted already)."""
    own = settings.data_dir / "tls" / "cert.pem"
    if settings.tls_cert is not None and settings.tls_cert.resolve() == own.resolve():
        return own
    return None


def greeting(
    url: str, creds: dict[str, str], created: bool, data_dir: Path, ca_cert: str = ""
) -> str:
    """What `foxden up` tells its user once the farm is ready: the web address, the account,
    where its key is, and the `foxden login` line to paste (with the key)."""
    cred_path = data_dir / "credentials.json"
    account = creds["account"]
    trust = f" --ca-cert {shlex.quote(ca_cert)}" if ca_cert else ""
    login = (
        f"foxden login --server {shlex.quote(url)} --account {shlex.quote(account)} "
        f"--key {shlex.quote(creds['access_key'])}{trust}"
    )
    return "\n".join(
        [
            "",
            f"  web site:  {url}/  (sign in as {account} with the key below)",
            f"  account:   {account} (administrator, {'created now' if created else 'found'})",
            f"  key:       in {cred_path} (readable by you only)",
            "  log in from this computer's command line (then: foxden render SCENE --frames 1-10):",
            f"    {login}",
            f"  or, without logging in: foxden tasks --farm-dir {shlex.quote(str(data_dir))}",
            "",
        ]
    )


def _announce_credentials(
    farm: Farm, data_dir: Path, url: str, ca_cert: str = ""
) -> tuple[dict[str, str], bool]:
    """Make sure the admin credentials exist and say where they are; returns them and
    whether they were created now."""
    creds, created = ensure_credentials(farm, data_dir, url, ca_cert)
    cred_path = data_dir / "credentials.json"
    if created:
        print(
            f"created admin account {creds['account']!r}; its access key is in {cred_path}",
            flush=True,
        )
    else:
        print(f"using account {creds['account']!r} from {cred_path}", flush=True)
    return creds, created


def _local_workers(
    data_dir: Path,
    n_workers: int,
    url: str,
    env: dict[str, str],
    blender: Path | None,
    sandbox: bool,
) -> list[LocalWorker]:
    """The local workers of `foxden up` (not started): `<host>-local-<n>`, each with its own
    cache under `<data_dir>/workers/<n>`."""
    host = socket.gethostname()
    workers = []
    for i in range(n_workers):
        name = f"{host}-local-{i + 1}"
        cache = data_dir / "workers" / str(i + 1)
        argv = [
            sys.executable,
            "-m",
            "foxden.cli",
            "worker",
            "--server",
            url,
            "--name",
            name,
            "--cache",
            str(cache),
            "--poll",
            "0.5",
            "--exit-with-parent",
        ]
        if blender is not None:
            argv += ["--blender", str(blender)]
        if not sandbox:
            argv.append("--no-sandbox")
        workers.append(LocalWorker(name, cache, argv, env))
    return workers


def _keep_running(workers: list[LocalWorker], stop: threading.Event) -> None:
    """Restart any local worker that exits, until `stop` is set."""
    while not stop.wait(1.0):
        for w in workers:
            if w.proc is not None and w.proc.poll() is not None:
                log.warning(
                    "local worker %s exited (status %s): restarting it",
                    w.name,
                    w.proc.returncode,
                )
                w.start()


def _stop_all(workers: list[LocalWorker], server: _ThreadServer, thread: threading.Thread) -> None:
    """Stop the workers (killing those that do not stop in time), then the server."""
    for w in workers:
        w.stop()
    deadline = time.monotonic() + WORKER_STOP_SECONDS
    for w in workers:
        w.wait_or_kill(deadline)
    server.should_exit = True
    thread.join(timeout=10)
