"""One lease, from claim to last report: lay out the inputs, render, report each frame.

Two sides share a lease. The slot's side (`LeaseRun`, in the slot's thread) lays out the
workspace and runs the job type's commands; it feeds each output line to the progress parser
and files it under a frame. The messenger side (`worker/messenger.py`) heartbeats every
`heartbeat_seconds` (progress and new log text) and reports frames as they finish: each report
waits until the frame's outputs and thumbnails are uploaded. A 'stop' reply, or the lease being
gone, sets `stop`, which kills the renderer's process group within `poll_interval`; the work is
then dropped without a report. The task's time limits (`worker/watchdog.py`) kill it the same
way, and its open frames then fail as timed out.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path, PurePosixPath
from typing import Protocol

from foxden.core.failures import ended_by
from foxden.core.software import split_soft_name
from foxden.errors import FoxdenError
from foxden.jobtypes import ChunkSpec, Command, JobType, Software, get_job_type
from foxden.jobtypes.base import ProgressParser
from foxden.wire.worker import ClaimIn, LeaseOut
from foxden.worker import workspace as workspaces
from foxden.worker.cache import BlobCache
from foxden.worker.launcher import dies_with_worker
from foxden.worker.messenger import Finish, Messenger
from foxden.worker.process import run_process
from foxden.worker.protocol import (
    InputMissing,
    Stopping,
    TokenRejected,
    WorkerClient,
    WorkerError,
)
from foxden.worker.readable import Readable
from foxden.worker.sandbox import SANDBOX_PATH, Limits, Sandbox, clean_env, trusted_env
from foxden.worker.settings import WorkerSettings
from foxden.worker.watchdog import Clock, Watchdog, seconds

log = logging.getLogger("foxden.worker")
KILL_GRACE = 2.0


class LeaseHost(Protocol):
    """What a lease needs from the agent that runs it."""

    client: WorkerClient
    settings: WorkerSettings
    shutdown: threading.Event
    cache: BlobCache
    work_dir: Path
    software: list[Software]
    sandbox: Sandbox | None
    heartbeat_seconds: float

    def token_rejected(self) -> None:
        """The server no longer knows this worker's token."""


def exit_reason(returncode: int, limits: Limits, tail: list[str]) -> str:
    """How a renderer ended, naming the resource limit it ran into when that is what ended it.

    A signal shows as a negative status, or as 128 + the signal from a sandbox or a shell."""
    signum = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else 0
    if signum == signal.SIGXCPU or (signum == signal.SIGKILL and _said(tail, "CPU time")):
        return f"used up the CPU time limit ({limits.cpu_seconds} s per process; SIGXCPU)"
    if signum == signal.SIGXFSZ or (limits.file_size and _said(tail, "File too large")):
        return f"wrote a file larger than the file size limit ({_size(limits.file_size)})"
    text = ended_by(returncode)  # "exited with signal 11 (SIGSEGV)", "exited with status 1"
    if limits.memory and _said(tail, *_OUT_OF_MEMORY):
        text += f" (out of memory: the limit is {_size(limits.memory)} per process)"
    elif limits.processes and _said(tail, *_NO_FORK):
        text += f" (cannot start more processes: the limit is {limits.processes}, threads count)"
    return text


_NO_FORK = ("Resource temporarily unavailable", "Cannot fork", "can't fork")
_OUT_OF_MEMORY = ("MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory")


def _said(tail: list[str], *needles: str) -> bool:
    return any(n.lower() in line.lower() for line in tail for n in needles)


def _size(n: int) -> str:
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.3g} {unit}"
    return f"{n} bytes"


def program_name(job_type: JobType, argv0: str) -> str:
    """The renderer's name in errors: "Blender" for the job type's own program, else the
    program's file name."""
    name = Path(argv0).name
    if name.lower().removesuffix(".exe") == job_type.name:
        return job_type.name.capitalize()
    return name


def pick_software(software: list[Software], job_type: str, cg_soft_name: str) -> Software | None:
    """The installed program a task asks for ('blender 3.4' -> a Blender 3.4.x), if any."""
    try:
        _name, version = split_soft_name(cg_soft_name)
    except FoxdenError:
        version = ""
    for soft in software:
        if soft.name == job_type and soft.satisfies(version or None):
            return soft
    return None


class LeaseRun:
    """Renders the frames of one lease (call `run` once, in the slot's thread)."""

    def __init__(
        self,
        lease: LeaseOut,
        agent: LeaseHost,
        clock: Clock = time.monotonic,
        next_claim: ClaimIn | None = None,
    ) -> None:
        """`next_claim`: the report of the lease's last frame asks for the slot's next work
        with it (`next_leases` after `run`)."""
        self.lease = lease
        self.clock = clock  # the time limits' clock (tests move it)
        self.frame_timeout = seconds(lease.get("frame_timeout_s"))
        self.progress_timeout = seconds(lease.get("progress_timeout_s"))
        self.agent = agent
        self.client = agent.client
        self.id = lease["lease_id"]
        self.frames = [int(f) for f in lease["frames"]]
        self.heartbeat_seconds = float(lease.get("heartbeat_seconds") or agent.heartbeat_seconds)
        self.stop = threading.Event()  # the server said stop, or the lease is gone
        self.messenger = Messenger(
            self.id,
            self.client,
            self.heartbeat_seconds,
            self.stop,
            agent.token_rejected,
            self.frames,
            next_claim,
        )
        self.finished = self.messenger.finished  # frames whose fate is decided
        self.ws: workspaces.Workspace | None = None
        # the user's view of its output and errors: the worker's folders hidden until the
        # workspace is laid out, then its paths as the user's
        self.readable = Readable([(agent.cache.root, "(worker)"), (agent.work_dir, "(worker)")])

    def run(self) -> None:
        """Render the lease's frames; returns when they are reported or the work is dropped."""
        task = self.lease["task"]
        log.info(
            "lease %d: task %d frames %s",
            self.id,
            task["id"],
            self.frames,
            extra={"event": "lease_start"},
        )
        self.messenger.start()
        try:
            self.ws = self._layout()
            if self.ws is not None:
                self.readable = Readable.for_lease(
                    self.ws.tree,
                    self.ws.out,
                    task["output_folder"],
                    self.ws.root,
                    self.agent.cache.root,
                    self.agent.work_dir,
                )
                self.messenger.out = self.ws.out
                self.messenger.readable = self.readable
                self._render(self.ws)
        finally:
            self.messenger.close()
            if self.ws is not None:
                self.ws.remove()
        log.info(
            "lease %d ended%s",
            self.id,
            " (work dropped)" if self.stop.is_set() else "",
            extra={"event": "lease_end"},
        )

    @property
    def next_leases(self) -> list[LeaseOut] | None:
        """The leases the last frame's report got ([]: no work now); None when no report asked
        for them (the work was dropped, or the server does not hand work out with reports)."""
        return self.messenger.next_leases

    def _should_stop(self) -> bool:
        return self.stop.is_set() or self.agent.shutdown.is_set()

    def _layout(self) -> workspaces.Workspace | None:
        task = self.lease["task"]
        try:
            return workspaces.create(
                self.agent.work_dir,
                task["id"],
                self.id,
                self.lease["inputs"],
                self.agent.cache,
                self.client,
            )
        except Stopping:
            return None
        except TokenRejected:
            self.agent.token_rejected()
            self.stop.set()
            return None
        except InputMissing as exc:
            # A stopped task's inputs are no longer ours: ask before blaming the inputs.
            self.messenger.heartbeat_now()
            if not self._should_stop():
                self._fail_all(f"cannot fetch the task's inputs: {exc.message}")
        except (WorkerError, FoxdenError, OSError) as exc:
            if not self._should_stop():
                self._fail_all(self.readable.paths(f"cannot lay out the task's inputs: {exc}"))
        return None

    def _render(self, ws: workspaces.Workspace) -> None:
        task = self.lease["task"]
        try:
            job_type = get_job_type(task["job_type"])
            software = pick_software(self.agent.software, job_type.name, task["cg_soft_name"])
            scene = ws.local(task["scene_path"])
            chunk = ChunkSpec(
                task_id=task["id"],
                scene_path=scene,
                scene_name=PurePosixPath(scene.name).stem,
                frames=list(self.frames),
                render_layer=task["render_layer"] or None,
                camera=task["camera"] or None,
                options=dict(task["options"] or {}),
                output_dir=ws.out,
                workspace=ws.tree,
                software=software,
                allow_scripts=bool(dict(task).get("allow_scripts", False)),
                allow_network=bool(dict(task).get("allow_network", False)),
            )
            commands = job_type.commands(chunk)
        except FoxdenError as exc:
            self._fail_all(self.readable.paths(exc.message))
            return
        parser = job_type.progress_parser(chunk)
        for command in commands:
            if not self._run_command(job_type, chunk, parser, command):
                return

    def _run_command(
        self, job_type: JobType, chunk: ChunkSpec, parser: ProgressParser, command: Command
    ) -> bool:
        frames = [f for f in command.frames if f not in self.finished]
        tail: list[str] = []
        began = time.time()
        self.messenger.mark_started(frames, began)
        watchdog = Watchdog(self.frame_timeout, self.progress_timeout, self.clock)

        def on_line(line: str) -> None:
            watchdog.output()
            tail.append(line)
            if len(tail) > 40:
                del tail[:-30]
            events = parser.feed(line)
            current = getattr(parser, "current", None)
            shown = self.readable.line(line)
            if shown is not None:
                frame = current if current in frames else self._first_open(frames)
                self.messenger.add_log(frame, shown)
            for event in events:
                if event.frame not in frames or event.frame in self.finished:
                    continue
                self.messenger.progress(event.frame, event.fraction)
                if event.done:
                    watchdog.frame_done()
                    self._decide(job_type, chunk, event.frame, True, "")

        def should_stop() -> bool:
            return self._should_stop() or (watchdog.armed and watchdog.expired() is not None)

        clock = time.monotonic()
        try:
            argv, env = self._sandboxed(chunk, command)
            result = run_process(
                dies_with_worker(argv, os.getpid(), self.agent.settings.limits().rlimits()),
                command.cwd,
                env,
                on_line,
                should_stop,
                poll_interval=0.2,
                grace=KILL_GRACE,
                inherit_env=False,
            )
        except (OSError, ValueError) as exc:
            error = self.readable.paths(f"cannot start {command.argv[0]}: {exc}")
            for f in frames:
                self._decide(job_type, chunk, f, False, error)
            return False
        program = program_name(job_type, command.argv[0])
        log.info(
            "lease %d: %s ended with status %d after %.2fs",
            self.id,
            program,
            result.returncode,
            time.monotonic() - clock,
            extra={"event": "command_end"},
        )
        if self._should_stop():
            return False
        timed_out = watchdog.expired() if watchdog.armed else None
        if result.killed and timed_out is not None:
            log.warning(
                "lease %d: %s %s", self.id, program, timed_out, extra={"event": "render_timeout"}
            )
            for f in frames:
                self._decide(job_type, chunk, f, False, f"{program} {timed_out}")
            return True  # the next command renders other frames, on its own clock
        if result.killed:
            return False
        shown_tail = [s for s in map(self.readable.line, tail[-15:]) if s is not None]
        # one reason a line, the most telling first (the summary of a task shows the first)
        reason = self.readable.paths("\n".join(parser.errors[:5])) or "\n".join(shown_tail)
        ending = exit_reason(result.returncode, self.agent.settings.limits(), tail)
        for f in frames:
            if f in self.finished:
                continue
            if result.returncode == 0:
                self._decide(job_type, chunk, f, True, "")
            else:
                self._decide(job_type, chunk, f, False, f"{program} {ending}: {reason}")
        return True

    def _sandboxed(self, chunk: ChunkSpec, command: Command) -> tuple[list[str], dict[str, str]]:
        """The command line and environment that run `command` in the lease's sandbox (or, with
        --no-sandbox, as it is)."""
        sandbox = self.agent.sandbox
        if sandbox is None:
            return list(command.argv), trusted_env(command.env)
        assert self.ws is not None
        read_only = [self.ws.tree, *command.read_only]
        sandbox.prepare([self.ws.tree], [self.ws.out])
        argv = sandbox.wrap(
            command.argv,
            cwd=command.cwd,
            read_only=read_only,
            writable=[self.ws.out],
            env=clean_env(command.env),
            network=chunk.allow_network,
        )
        return argv, {"PATH": SANDBOX_PATH, "LANG": "C.UTF-8"}

    def _first_open(self, frames: list[int]) -> int:
        return next((f for f in frames if f not in self.finished), frames[0])

    def _decide(
        self, job_type: JobType, chunk: ChunkSpec, frame: int, ok: bool, error: str
    ) -> None:
        """Queue a frame's report: done only if the job type accepts its outputs."""
        if frame in self.finished:
            return
        outputs: list[Path] = []
        if ok:
            outputs = job_type.outputs_for(chunk, frame)
            problems = [p for p in map(job_type.check_output, outputs) if p]
            if problems:
                ok, error = False, self.readable.paths("; ".join(problems))
            elif not outputs and job_type.expects_outputs(chunk):
                ok, error = False, f"frame {frame} wrote no output file"
        self.messenger.finish(Finish(frame, ok, error, outputs))

    def _fail_all(self, error: str) -> None:
        log.warning("lease %d failed: %s", self.id, error, extra={"event": "lease_failed"})
        for f in self.frames:
            if f not in self.finished:
                self.messenger.finish(Finish(f, False, error))
