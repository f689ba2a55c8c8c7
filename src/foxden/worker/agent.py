"""The render node agent: register, then in each slot claim work, render it, and ask again.

`Agent.run` is the whole life of a worker process: register (retrying while the server is out
of reach), run `slots` claim loops in threads, and on `request_stop` (Ctrl-C, SIGTERM) kill every
renderer process group, sign off (which releases the worker's leases) and return.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from foxden.jobtypes import Software, detect_software
from foxden.retry import RetryPolicy
from foxden.wire.worker import SoftwareEntry, WorkerRegister
from foxden.worker import workspace as workspaces
from foxden.worker.cache import BlobCache
from foxden.worker.lease import LeaseRun
from foxden.worker.machine import cores, memory_mb
from foxden.worker.process import kill_all
from foxden.worker.protocol import (
    RequestRejected,
    Stopping,
    TokenRejected,
    WorkerClient,
    WorkerError,
    sleep_jittered,
)
from foxden.worker.sandbox import Sandbox, SandboxUnavailable
from foxden.worker.settings import WorkerSettings

log = logging.getLogger("foxden.worker")


class Agent:
    """One worker process: its settings, server connection, cache and slots."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.shutdown = threading.Event()
        self.client = WorkerClient(settings.server, self.shutdown, verify=settings.ca_cert)
        self.cache = BlobCache(settings.cache_dir / "blobs", settings.cache_size)
        self.work_dir = settings.cache_dir / "work"
        self.software: list[Software] = []
        self.sandbox: Sandbox | None = None  # set by `run`; None only with --no-sandbox
        self.heartbeat_seconds = 10.0
        self.worker_id = 0
        self._register_lock = threading.Lock()
        self._token_generation = 0
        self._rejected_generation = -1

    def request_stop(self) -> None:
        """Begin a clean shutdown (safe to call from a signal handler)."""
        self.shutdown.set()

    def registration(self) -> WorkerRegister:
        """What this worker tells the farm about itself."""
        return WorkerRegister(
            name=self.settings.name,
            software=[SoftwareEntry(name=s.name, version=s.version) for s in self.software],
            cores=cores(),
            memory_mb=memory_mb(),
            tags=list(self.settings.tags),
            slots=self.settings.slots,
            sandboxed=self.settings.sandbox,
        )

    def start_sandbox(self) -> bool:
        """Prove that the renderers' sandbox works (or warn that there is none); False: it does
        not, and the worker must not take work."""
        if not self.settings.sandbox:
            log.warning(
                "running WITHOUT the sandbox (--no-sandbox): every scene and command runs with "
                "this worker's rights and can read its files and join key; use this on "
                "trusted, single-user farms only",
                extra={"event": "no_sandbox"},
            )
            return True
        try:
            sandbox = Sandbox(
                self.settings.bwrap, self.settings.limits(), self.settings.sandbox_uid
            )
            sandbox.check(self.work_dir)
        except SandboxUnavailable as exc:
            log.error(
                "refusing to take work: the renderers' sandbox does not work: %s",
                exc,
                extra={"event": "sandbox_unavailable"},
            )
            return False
        self.sandbox = sandbox
        log.info("renderers run in a bubblewrap sandbox (%s)", sandbox.bwrap)
        return True

    def register(self) -> None:
        """Join the farm (retried while the server is out of reach)."""
        reply = self.client.register(self.settings.join_key, self.registration())
        self.worker_id = reply["worker_id"]
        self.heartbeat_seconds = float(reply.get("heartbeat_seconds") or self.heartbeat_seconds)
        self._token_generation += 1
        log.info(
            "registered as worker %d with %s",
            self.worker_id,
            ", ".join(f"{s.name} {s.version}" for s in self.software) or "no software",
            extra={"event": "registered"},
        )

    def token_rejected(self) -> None:
        """The server forgot this worker's token: the next claim registers again."""
        with self._register_lock:
            self._rejected_generation = self._token_generation

    def _ensure_registered(self) -> None:
        with self._register_lock:
            if self._rejected_generation == self._token_generation:
                self.register()

    def run(self) -> int:
        """Work until `request_stop`; returns the process exit status."""
        cleaned = workspaces.clean_leftovers(self.work_dir)
        if cleaned:
            log.info("removed %d workspace(s) of an earlier run", cleaned)
        if not self.start_sandbox():
            return 3
        self.software = detect_software(self.settings.configured_software())
        try:
            self.register()
        except Stopping:
            return 0
        except TokenRejected as exc:
            log.error("the farm refused the join key: %s", exc.message)
            return 2
        except WorkerError as exc:
            log.error("cannot register: %s", exc.message)
            return 2
        slots = [
            threading.Thread(target=self._slot, args=(i,), name=f"foxden-slot-{i}", daemon=True)
            for i in range(self.settings.slots)
        ]
        for t in slots:
            t.start()
        parent = os.getppid()
        while not self.shutdown.wait(1.0):
            if self.settings.exit_with_parent and os.getppid() != parent:
                log.warning("parent process is gone: stopping", extra={"event": "orphaned"})
                self.shutdown.set()
        self._stop(slots)
        return 0

    def _stop(self, slots: list[threading.Thread]) -> None:
        log.info(
            "stopping: killing renderers and releasing leases", extra={"event": "stopping_worker"}
        )
        killed = kill_all(grace=2.0)
        if killed:
            log.info("stopped %d renderer process group(s)", killed)
        try:
            self.client.sign_off(RetryPolicy(attempts=3, base_delay=0.2, max_delay=1.0))
        except WorkerError as exc:
            log.warning("could not sign off (%s): the leases will expire on the server", exc)
        for t in slots:
            t.join(timeout=10)
        kill_all(grace=0.5)  # anything a slot started while we were stopping
        workspaces.clean_leftovers(self.work_dir)
        self.client.close()

    def _slot(self, index: int) -> None:
        while not self.shutdown.is_set():
            try:
                self._ensure_registered()
                lease = self.client.claim()
            except Stopping:
                return
            except TokenRejected as exc:
                log.warning("claim refused (%s): registering again", exc.message)
                self.token_rejected()
                sleep_jittered(self.settings.poll_seconds, self.shutdown)
                continue
            except (RequestRejected, WorkerError) as exc:
                log.error("claim failed: %s", exc)
                sleep_jittered(self.settings.poll_seconds, self.shutdown)
                continue
            if lease is None:
                sleep_jittered(self.settings.poll_seconds, self.shutdown)
                continue
            try:
                LeaseRun(lease, self).run()
            except Exception:  # a bug in one lease must not end the worker
                log.exception("slot %d: lease %s failed", index, lease.get("lease_id"))


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/foxden/worker` (or ~/.cache/foxden/worker)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "foxden" / "worker"
