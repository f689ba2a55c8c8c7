"""The render node agent: register, then claim work for the idle slots, render it, and go on.

`Agent.run` is the whole life of a worker process: register (retrying while the server is out
of reach), then run `slots` slot threads and one claimer thread, and on `request_stop` (Ctrl-C,
SIGTERM) kill every renderer process group, sign off (which releases the worker's leases) and
return.

The claimer asks for work for every idle slot at once (`POST /claims`, held open up to
`claim_wait` seconds by the server: a long poll that answers the moment work appears) and hands
the leases out (`worker/handoff.py`). A busy slot asks for its next work with the report of its
lease's last frame and starts that lease at once, without a claim of its own; only when that
report brought nothing does the slot go back to the claimer. A server that answers an idle claim
at once though asked to wait (an older one, or one with long polls off) is polled every
`poll_seconds`, as is every server when `claim_wait` is 0.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from foxden.jobtypes import Software, detect_software
from foxden.retry import RetryPolicy
from foxden.wire.worker import ClaimIn, LeaseOut, SoftwareEntry, WorkerRegister
from foxden.worker import workspace as workspaces
from foxden.worker.cache import BlobCache
from foxden.worker.handoff import Handoff
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
#: a 204 sooner than this (or than half the wait) after a claim that asked to wait: the server
#: did not hold it open, so the claimer waits `poll_seconds` before it asks again
NOT_HELD = 1.0
#: how releases of leases never started are tried while the worker stops
RELEASE_RETRY = RetryPolicy(attempts=3, base_delay=0.2, max_delay=1.0)


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
        self.handoff = Handoff(wanted=settings.slots)  # every slot starts idle

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
        self.work()
        return 0

    def work(self) -> None:
        """Claim and render until `request_stop` (or the parent process is gone with
        `exit_with_parent`), then stop: the life of a registered worker."""
        slots = [
            threading.Thread(target=self._slot, args=(i,), name=f"foxden-slot-{i}", daemon=True)
            for i in range(self.settings.slots)
        ]
        claimer = threading.Thread(target=self._claimer, name="foxden-claimer", daemon=True)
        for t in [*slots, claimer]:
            t.start()
        parent = os.getppid()
        while not self.shutdown.wait(1.0):
            if self.settings.exit_with_parent and os.getppid() != parent:
                log.warning("parent process is gone: stopping", extra={"event": "orphaned"})
                self.shutdown.set()
        self._stop(slots, claimer)

    def _stop(self, slots: list[threading.Thread], claimer: threading.Thread) -> None:
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
        # A claim held open by the server is not waited for: the claimer releases what it
        # brings if it comes back before the process ends; the server's long poll of a worker
        # gone ends at its timeout.
        claimer.join(timeout=0.5)
        self._release(self.handoff.leftovers())  # got for slots that never took them
        kill_all(grace=0.5)  # anything a slot started while we were stopping
        workspaces.clean_leftovers(self.work_dir)
        self.client.close()

    def _claimer(self) -> None:
        """Claim work for the idle slots, all of them in one request, and hand it out."""
        wait = self.settings.claim_wait
        while (wanted := self.handoff.wanted(self.shutdown)) > 0:
            began = time.monotonic()
            try:
                self._ensure_registered()
                leases = self.client.claims(wanted, wait)
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
            if self.shutdown.is_set():
                self._release(leases)
                return
            if leases:
                log.info(
                    "claimed %d lease(s) for %d idle slot(s) in one request",
                    len(leases),
                    wanted,
                    extra={"event": "claimed"},
                )
                self.handoff.give(leases[:wanted])
                self._release(leases[wanted:])  # more than asked for: not ours to keep
                continue
            held = time.monotonic() - began
            if wait <= 0 or held < min(NOT_HELD, wait / 2):
                sleep_jittered(self.settings.poll_seconds, self.shutdown)
            # else: the long poll ran out with no work: ask again at once

    def _slot(self, index: int) -> None:
        """Render the leases handed to this slot, and those its last reports bring."""
        while (lease := self.handoff.take(self.shutdown)) is not None:
            chained: LeaseOut | None = lease
            following: list[LeaseOut] | None = None
            while chained is not None:
                if self.shutdown.is_set():
                    self._release([chained])  # handed out, never started
                    return
                following = self._render(index, chained)
                chained = following[0] if following else None
            if following == [] and self.settings.claim_wait <= 0:
                # the last report's claim found nothing just now: plain polling waits first
                sleep_jittered(self.settings.poll_seconds, self.shutdown)
            self.handoff.want()

    def _render(self, index: int, lease: LeaseOut) -> list[LeaseOut] | None:
        """Run one lease; returns the next lease its last report got for this slot ([]: the
        server had none; None: it was not asked, or does not hand work out with reports)."""
        run = LeaseRun(lease, self, next_claim=ClaimIn(slots=1))
        try:
            run.run()
        except Exception:  # a bug in one lease must not end the worker
            log.exception("slot %d: lease %s failed", index, lease.get("lease_id"))
        following = run.next_leases
        if not following:
            return following
        self._release(following[1:])  # one was asked for: any more are not this slot's
        log.info(
            "slot %d: lease %d came with the last report of lease %d",
            index,
            following[0]["lease_id"],
            lease["lease_id"],
            extra={"event": "lease_chained"},
        )
        return following[:1]

    def _release(self, leases: list[LeaseOut]) -> None:
        """Give back leases this worker will not start."""
        for lease in leases:
            try:
                released = self.client.release(lease["lease_id"], RELEASE_RETRY)
            except (WorkerError, RuntimeError) as exc:  # RuntimeError: the client is closed
                log.warning(
                    "could not release lease %d (%s): it will expire on the server",
                    lease["lease_id"],
                    exc,
                )
                continue
            log.info(
                "released lease %d, never started (%d frame(s))",
                lease["lease_id"],
                released,
                extra={"event": "lease_released"},
            )


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/foxden/worker` (or ~/.cache/foxden/worker)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "foxden" / "worker"
