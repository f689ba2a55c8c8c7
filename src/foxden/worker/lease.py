"""One lease, from claim to last report: lay out the inputs, render, heartbeat, report each frame.

Two threads share a lease. The slot's thread lays out the workspace and runs the job type's
commands; it feeds each output line to the progress parser and files it under a frame. The
lease's messenger thread heartbeats every `heartbeat_seconds` (progress and new log text) and
reports frames as they finish: each report waits until the frame's outputs and thumbnails are
uploaded. A 'stop' reply, or the lease being gone, sets `stop`, which kills the renderer's process
group within `poll_interval`; the work is then dropped without a report.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from foxden.core.software import split_soft_name
from foxden.errors import FoxdenError
from foxden.jobtypes import ChunkSpec, Command, JobType, Software, get_job_type
from foxden.jobtypes.base import ProgressParser
from foxden.worker import workspace as workspaces
from foxden.worker.launcher import dies_with_worker
from foxden.worker.outputs import upload_output
from foxden.worker.process import run_process
from foxden.worker.protocol import (
    FrameResult,
    InputMissing,
    Lease,
    LeaseGone,
    OutputRef,
    RequestRejected,
    Stopping,
    TokenRejected,
    WorkerError,
)
from foxden.worker.sandbox import SANDBOX_PATH, Limits, clean_env, trusted_env

if TYPE_CHECKING:
    from foxden.worker.agent import Agent

log = logging.getLogger("foxden.worker")
MAX_LOG_CHUNK = 512 * 1024  # log text per frame per heartbeat; more is cut in the middle
KILL_GRACE = 2.0
_END = object()


@dataclass
class _Finish:
    """A frame whose fate is known: check (if done) and upload its outputs, then report it."""

    frame: int
    done: bool
    error: str = ""
    outputs: list[Path] = field(default_factory=list)


def exit_reason(returncode: int, limits: Limits, tail: list[str]) -> str:
    """How a renderer ended, naming the resource limit it ran into when that is what ended it.

    A signal shows as a negative status, or as 128 + the signal from a sandbox or a shell."""
    signum = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else 0
    if signum == signal.SIGXCPU or (signum == signal.SIGKILL and _said(tail, "CPU time")):
        return f"used up the CPU time limit ({limits.cpu_seconds} s per process; SIGXCPU)"
    if signum == signal.SIGXFSZ or (limits.file_size and _said(tail, "File too large")):
        return f"wrote a file larger than the file size limit ({_size(limits.file_size)})"
    text = f"exited with status {returncode}"
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

    def __init__(self, lease: Lease, agent: Agent) -> None:
        self.lease = lease
        self.agent = agent
        self.client = agent.client
        self.id = lease["lease_id"]
        self.frames = [int(f) for f in lease["frames"]]
        self.heartbeat_seconds = float(lease.get("heartbeat_seconds") or agent.heartbeat_seconds)
        self.stop = threading.Event()  # the server said stop, or the lease is gone
        self.finished: set[int] = set()  # frames whose fate is decided (queued for a report)
        self._lock = threading.Lock()
        self._progress: dict[int, float] = {}
        self._logs: dict[int, list[str]] = {}
        self._log_size: dict[int, int] = {}
        self._started: dict[int, float] = {}
        self._queue: queue.Queue[object] = queue.Queue()
        self._ended = threading.Event()
        # Held while a heartbeat takes log text and sends it: a frame's report waits for the
        # heartbeat in flight, whose log text the server accepts only while the frame runs.
        self._beat_lock = threading.Lock()
        self._reporter = threading.Thread(
            target=self._report_loop, name=f"foxden-report-{self.id}", daemon=True
        )
        self._heart = threading.Thread(
            target=self._heartbeat_loop, name=f"foxden-heartbeat-{self.id}", daemon=True
        )
        self.ws: workspaces.Workspace | None = None

    # -- the slot's side -----------------------------------------------------------------------
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
        self._reporter.start()
        self._heart.start()
        try:
            self.ws = self._layout()
            if self.ws is not None:
                self._render(self.ws)
        finally:
            self._queue.put(_END)
            self._reporter.join()
            self._ended.set()
            self._heart.join()
            if self.ws is not None:
                self.ws.remove()
        log.info(
            "lease %d ended%s",
            self.id,
            " (work dropped)" if self.stop.is_set() else "",
            extra={"event": "lease_end"},
        )

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
            self._heartbeat_now()
            if not self._should_stop():
                self._fail_all(f"cannot fetch the task's inputs: {exc.message}")
        except (WorkerError, FoxdenError, OSError) as exc:
            if not self._should_stop():
                self._fail_all(f"cannot lay out the task's inputs: {exc}")
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
            self._fail_all(exc.message)
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
        for f in frames:
            self._started.setdefault(f, began)

        def on_line(line: str) -> None:
            tail.append(line)
            if len(tail) > 40:
                del tail[:-30]
            events = parser.feed(line)
            current = getattr(parser, "current", None)
            self._add_log(current if current in frames else self._first_open(frames), line)
            for event in events:
                if event.frame not in frames or event.frame in self.finished:
                    continue
                with self._lock:
                    if event.fraction <= 0.0:
                        self._started[event.frame] = time.time()
                    self._progress[event.frame] = event.fraction
                if event.done:
                    self._decide(job_type, chunk, event.frame, True, "")

        clock = time.monotonic()
        try:
            argv, env = self._sandboxed(chunk, command)
            result = run_process(
                dies_with_worker(argv, os.getpid(), self.agent.settings.limits().rlimits()),
                command.cwd,
                env,
                on_line,
                self._should_stop,
                poll_interval=0.2,
                grace=KILL_GRACE,
                inherit_env=False,
            )
        except (OSError, ValueError) as exc:
            for f in frames:
                self._decide(job_type, chunk, f, False, f"cannot start {command.argv[0]}: {exc}")
            return False
        program = Path(command.argv[0]).name
        log.info(
            "lease %d: %s ended with status %d after %.2fs",
            self.id,
            program,
            result.returncode,
            time.monotonic() - clock,
            extra={"event": "command_end"},
        )
        if result.killed or self._should_stop():
            return False
        reason = "; ".join(parser.errors[:5]) or "\n".join(tail[-15:])
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
                ok, error = False, "; ".join(problems)
            elif not outputs and job_type.expects_outputs(chunk):
                ok, error = False, f"frame {frame} wrote no output file"
        self.finished.add(frame)
        self._queue.put(_Finish(frame, ok, error, outputs))

    def _fail_all(self, error: str) -> None:
        log.warning("lease %d failed: %s", self.id, error, extra={"event": "lease_failed"})
        for f in self.frames:
            if f not in self.finished:
                self.finished.add(f)
                self._queue.put(_Finish(f, False, error))

    def _add_log(self, frame: int, line: str) -> None:
        with self._lock:
            lines = self._logs.setdefault(frame, [])
            size = self._log_size.get(frame, 0) + len(line) + 1
            lines.append(line)
            if size > MAX_LOG_CHUNK:
                keep = [*lines[:50], "[... log lines cut ...]", *lines[-200:]]
                lines[:] = keep
                size = sum(len(x) + 1 for x in keep)
            self._log_size[frame] = size

    def _take_logs(self, only: int | None = None) -> dict[int, str]:
        with self._lock:
            numbers = [only] if only is not None else list(self._logs)
            taken = {f: "\n".join(self._logs.pop(f)) + "\n" for f in numbers if self._logs.get(f)}
            for f in numbers:
                self._log_size.pop(f, None)
        return taken

    # -- the messengers' side ------------------------------------------------------------------
    def _report_loop(self) -> None:
        while (item := self._queue.get()) is not _END:
            if isinstance(item, _Finish) and not self.stop.is_set():
                with self._beat_lock:
                    pass  # a heartbeat that took some of this frame's log has delivered it
                self._guard(partial(self._report, item))

    def _heartbeat_loop(self) -> None:
        while not self._ended.wait(self.heartbeat_seconds):
            if self.stop.is_set():
                return
            self._heartbeat_now()

    def _guard(self, call: Callable[[], None]) -> None:
        try:
            call()
        except Stopping:
            self.stop.set()
        except LeaseGone as exc:
            log.warning(
                "lease %d is gone (%s): dropping its work",
                self.id,
                exc.message,
                extra={"event": "lease_lost"},
            )
            self.stop.set()
        except TokenRejected as exc:
            log.warning(
                "the server no longer knows this worker (%s)",
                exc.message,
                extra={"event": "token_rejected"},
            )
            self.agent.token_rejected()
            self.stop.set()
        except RequestRejected as exc:
            log.error(
                "lease %d: the server refused a request: %s",
                self.id,
                exc.message,
                extra={"event": "request_rejected"},
            )
        except Exception:
            log.exception("lease %d: messenger failed", self.id)

    def _heartbeat_now(self) -> None:
        def beat() -> None:
            with self._beat_lock:
                with self._lock:
                    progress = {f: p for f, p in self._progress.items() if f not in self.finished}
                    open_frames = [f for f in self._logs if f not in self.finished]
                logs = {}
                for f in open_frames:  # a finished frame's log goes with its report
                    logs.update(self._take_logs(f))
                try:
                    reply = self.client.heartbeat(self.id, progress, logs, self._ended.is_set)
                except (Stopping, LeaseGone, TokenRejected):
                    raise
                except WorkerError:
                    self._put_back(logs)
                    raise
            if reply.get("action") == "stop":
                log.info(
                    "lease %d: the server says stop (%s)",
                    self.id,
                    reply.get("reason", ""),
                    extra={"event": "lease_stop"},
                )
                self.stop.set()

        self._guard(beat)

    def _put_back(self, logs: dict[int, str]) -> None:
        with self._lock:
            for f, text in logs.items():
                self._logs.setdefault(f, []).insert(0, text.rstrip("\n"))

    def _report(self, item: _Finish) -> None:
        outputs: list[OutputRef] = []
        error = item.error
        done = item.done
        if done:
            try:
                for path in item.outputs:
                    assert self.ws is not None
                    outputs.append(upload_output(self.client, self.id, self.ws.out, path))
            except OSError as exc:
                done, error, outputs = False, f"cannot read output: {exc}", []
            except RequestRejected as exc:
                done, error, outputs = False, f"the server refused an output: {exc.message}", []
        with self._lock:
            start = self._started.get(item.frame)
        result: FrameResult = {
            "frame": item.frame,
            "status": "done" if done else "failed",
            "render_time": (time.time() - start) if (done and start) else None,
            "error": error[:4000],
            "log": self._take_logs(item.frame).get(item.frame, ""),
            "outputs": outputs,
        }
        reply = self.client.report(self.id, [result])
        log.info(
            "lease %d: frame %d %s%s",
            self.id,
            item.frame,
            result["status"],
            f" ({error})" if error else "",
            extra={"event": "frame_reported"},
        )
        if reply.get("rejected"):
            log.warning(
                "lease %d: the server rejected %s",
                self.id,
                reply["rejected"],
                extra={"event": "report_rejected"},
            )
