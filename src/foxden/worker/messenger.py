"""The messenger side of a lease: what the worker tells the server while the slot renders.

Two threads per lease: the heartbeat thread sends progress and new log text every
`heartbeat_seconds`; the report thread reports each frame once its fate is decided, after
uploading its outputs and thumbnails. A 'stop' reply, or the lease being gone, sets `stop`
(the slot's side then kills its renderer and drops the work). With `next_claim`, the report of
the lease's last frame also asks for the slot's next work (`next_leases`): no claim request of
its own, and no idle gap between two leases.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from foxden.wire.worker import ClaimIn, FrameResult, LeaseOut, OutputFile
from foxden.worker.outputs import upload_output
from foxden.worker.protocol import (
    LeaseGone,
    RequestRejected,
    Stopping,
    TokenRejected,
    WorkerClient,
    WorkerError,
)
from foxden.worker.readable import PLAIN

log = logging.getLogger("foxden.worker")
MAX_LOG_CHUNK = 512 * 1024  # log text per frame per heartbeat; more is cut in the middle
_END = object()


@dataclass
class Finish:
    """A frame whose fate is known: check (if done) and upload its outputs, then report it."""

    frame: int
    done: bool
    error: str = ""
    outputs: list[Path] = field(default_factory=list)


class Messenger:
    """Heartbeats and frame reports of one lease (`start` once, `close` when the slot is done).

    The slot's side feeds it: `mark_started`, `progress`, `add_log` and `finish`. `out` is the
    folder outputs are uploaded from, set once the workspace is laid out."""

    def __init__(
        self,
        lease_id: int,
        client: WorkerClient,
        heartbeat_seconds: float,
        stop: threading.Event,
        token_rejected: Callable[[], None],
        frames: list[int] | None = None,
        next_claim: ClaimIn | None = None,
    ) -> None:
        self.id = lease_id
        self.frames = set(frames or ())  # the lease's frames: the last one's report may claim
        self.next_claim = next_claim  # asked for with the last frame's report
        # the leases the last report got (empty: no work now); None: no report asked, or the
        # server does not hand work out with reports
        self.next_leases: list[LeaseOut] | None = None
        self._sent: set[int] = set()  # frames whose report was sent (or tried)
        self.client = client
        self.heartbeat_seconds = heartbeat_seconds
        self.stop = stop
        self.token_rejected = token_rejected
        self.out: Path | None = None
        self.readable = PLAIN  # paths in errors as the user knows them (set with `out`)
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
            target=self._report_loop, name=f"foxden-report-{lease_id}", daemon=True
        )
        self._heart = threading.Thread(
            target=self._heartbeat_loop, name=f"foxden-heartbeat-{lease_id}", daemon=True
        )

    def start(self) -> None:
        """Start heartbeating and reporting."""
        self._reporter.start()
        self._heart.start()

    def close(self) -> None:
        """Report what is queued, then stop heartbeating; returns when both threads ended."""
        self._queue.put(_END)
        self._reporter.join()
        self._ended.set()
        self._heart.join()

    # -- fed by the slot's side ----------------------------------------------------------------
    def mark_started(self, frames: list[int], at: float) -> None:
        """Note when `frames` began rendering (unless noted before)."""
        for f in frames:
            self._started.setdefault(f, at)

    def progress(self, frame: int, fraction: float) -> None:
        """A frame's progress; 0 (re)starts its render clock."""
        with self._lock:
            if fraction <= 0.0:
                self._started[frame] = time.time()
            self._progress[frame] = fraction

    def finish(self, item: Finish) -> None:
        """Decide a frame's fate: it is reported by the report thread."""
        self.finished.add(item.frame)
        self._queue.put(item)

    def add_log(self, frame: int, line: str) -> None:
        """A line of a frame's log (cut in the middle past MAX_LOG_CHUNK between heartbeats)."""
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

    # -- the messenger threads ------------------------------------------------------------------
    def _report_loop(self) -> None:
        while (item := self._queue.get()) is not _END:
            if isinstance(item, Finish) and not self.stop.is_set():
                with self._beat_lock:
                    pass  # a heartbeat that took some of this frame's log has delivered it
                self._guard(partial(self._report, item))

    def _heartbeat_loop(self) -> None:
        while not self._ended.wait(self.heartbeat_seconds):
            if self.stop.is_set():
                return
            self.heartbeat_now()

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
            self.token_rejected()
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

    def heartbeat_now(self) -> None:
        """Send a heartbeat now (progress and the log text of frames still open)."""

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

    def _report(self, item: Finish) -> None:
        outputs: list[OutputFile] = []
        error = item.error
        done = item.done
        if done:
            try:
                for path in item.outputs:
                    assert self.out is not None
                    outputs.append(upload_output(self.client, self.id, self.out, path))
            except OSError as exc:
                done, error, outputs = False, self.readable.paths(f"cannot read output: {exc}"), []
            except RequestRejected as exc:
                done, error, outputs = False, f"the server refused an output: {exc.message}", []
        with self._lock:
            start = self._started.get(item.frame)
        result = FrameResult(
            frame=item.frame,
            status="done" if done else "failed",
            render_time=(time.time() - start) if (done and start) else None,
            error=error[:4000],
            log=self._take_logs(item.frame).get(item.frame, ""),
            outputs=outputs,
        )
        self._sent.add(item.frame)
        last = bool(self.frames) and self._sent >= self.frames
        claim = self.next_claim if last and not self.stop.is_set() else None
        reply = self.client.report(self.id, [result], claim)
        if claim is not None and "leases" in reply:
            self.next_leases = list(reply["leases"])
        log.info(
            "lease %d: frame %d %s%s",
            self.id,
            item.frame,
            result.status,
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
