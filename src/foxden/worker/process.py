"""Run a render process in its own process group, stream its output, and never leave orphans.

`run_process` starts the program in a new session (so it leads a new process group), reads its
merged stdout/stderr in a thread and hands complete lines (split on newline or carriage return)
to `on_line` in the caller's thread. It polls `should_stop` and then stops the whole group:
SIGTERM, and SIGKILL after a grace period. When the program ends by itself, whatever it left
running in its group is stopped the same way. `kill_all` stops every live group (for the
worker's SIGTERM/Ctrl-C handling; it is safe to call from a signal handler).

A program that escapes its group on purpose (setsid, double fork into a new session) is out of
reach of process groups. The worker runs renderers in a sandbox (`foxden.worker.sandbox`) whose
bwrap process stays in the group and whose PID namespace ends with it, which catches those too.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

DEFAULT_GRACE = 3.0
_MAX_LINE = 64 * 1024
_PIPE_WAIT = 2.0  # seconds to wait for the output pipe to close after the program ended
_EOF = object()
_HAVE_PROC = os.path.isdir("/proc/self")


@dataclass(frozen=True)
class ProcessResult:
    returncode: int  # negative: killed by that signal (as in subprocess)
    killed: bool  # we stopped it (should_stop, kill_all or an on_line error)


_live: dict[int, subprocess.Popen[bytes]] = {}  # process group id -> leader
_stopping: set[int] = set()
_lock = threading.RLock()  # re-entrant: kill_all may run in a signal handler


def live_groups() -> list[int]:
    """Process group ids of the processes run_process is running now."""
    with _lock:
        return list(_live)


def run_process(
    argv: Sequence[str],
    cwd: Path | str,
    env: Mapping[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    poll_interval: float = 0.2,
    grace: float = DEFAULT_GRACE,
    inherit_env: bool = True,
) -> ProcessResult:
    """Run `argv` in `cwd` with `env` added to this process's environment (`inherit_env`) or
    as its whole environment; see module doc.

    Raises OSError if the program cannot be started; an exception from `on_line` or
    `should_stop` stops the process group and is raised again.
    """
    proc = _start(argv, cwd, env, inherit_env)
    lines: queue.Queue[object] = queue.Queue()
    assert proc.stdout is not None
    reader = threading.Thread(
        target=_read_lines, args=(proc.stdout, lines), name=f"foxden-output-{proc.pid}", daemon=True
    )
    reader.start()
    killed = False
    failure: BaseException | None = None
    try:
        killed = _follow(proc, lines, on_line, should_stop, poll_interval, grace)
    except BaseException as exc:
        failure = exc
        killed = True
    finally:
        returncode, stopped = _reap(proc, reader, grace)
        killed = killed or stopped
    if failure is not None:
        raise failure
    return ProcessResult(returncode, killed)


def _start(
    argv: Sequence[str], cwd: Path | str, env: Mapping[str, str] | None, inherit_env: bool
) -> subprocess.Popen[bytes]:
    """Start `argv` as the leader of a new session (so of its own process group), its output
    on one pipe, and note it among the live renderers."""
    full_env = dict(os.environ) if inherit_env else {}
    if env:
        full_env.update(env)
    proc = subprocess.Popen(
        list(argv),
        cwd=str(cwd),
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        bufsize=0,
    )
    with _lock:
        _live[proc.pid] = proc  # a new session's leader leads its group
    return proc


def _follow(
    proc: subprocess.Popen[bytes],
    lines: queue.Queue[object],
    on_line: Callable[[str], None] | None,
    should_stop: Callable[[], bool] | None,
    poll_interval: float,
    grace: float,
) -> bool:
    """Feed the output's lines to `on_line` until the output ends and the program has exited;
    every `poll_interval` ask `should_stop` (True: the group is stopped) and whether the
    program exited (then its group's leftovers are stopped). Returns whether `should_stop`
    stopped it.

    The end of the output is not the end of the program: many programs close their output
    just before they exit (coreutils do, at exit), and one may close it and work on. Stopping
    the group at the end of the output would kill a program that was about to exit cleanly.
    """
    pgid = proc.pid
    killed = False
    exited_at: float | None = None
    output_ended = False
    next_poll = time.monotonic()
    while True:
        wait = max(0.0, next_poll - time.monotonic())
        item: object = None
        if output_ended:  # nothing more to read: wait for the program itself
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=wait)
            if proc.poll() is not None:
                return killed
        else:
            try:
                item = lines.get(timeout=wait)
            except queue.Empty:
                item = None
            if item is _EOF:
                output_ended = True
                continue
        if isinstance(item, str) and on_line is not None:
            on_line(item)
        now = time.monotonic()
        if now < next_poll:
            continue
        next_poll = now + poll_interval
        if not killed and should_stop is not None and should_stop():
            killed = True
            _stop_group(pgid, proc, grace)
        if proc.poll() is not None:
            if exited_at is None:
                exited_at = now
                _stop_group(pgid, proc, grace)  # leftovers of the group
            elif now - exited_at > _PIPE_WAIT:
                return killed  # something outside the group holds the pipe open


def _reap(
    proc: subprocess.Popen[bytes], reader: threading.Thread, grace: float
) -> tuple[int, bool]:
    """Stop what is left of the group, wait for the process and its output; its exit status
    and whether `kill_all` stopped it meanwhile."""
    pgid = proc.pid
    _stop_group(pgid, proc, grace)
    returncode = proc.wait()
    reader.join(timeout=_PIPE_WAIT)
    with _lock:
        _live.pop(pgid, None)
        stopped = pgid in _stopping
        _stopping.discard(pgid)
    assert proc.stdout is not None
    proc.stdout.close()
    return returncode, stopped


def kill_all(grace: float = DEFAULT_GRACE) -> int:
    """Stop every process group started by run_process; returns how many there were."""
    with _lock:
        groups = list(_live.items())
        _stopping.update(pgid for pgid, _ in groups)
    for pgid, _ in groups:
        _signal(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for pgid, proc in groups:
        while _group_alive(pgid, proc) and time.monotonic() < deadline:
            time.sleep(0.05)
        _signal(pgid, signal.SIGKILL)
    return len(groups)


def _read_lines(stream: IO[bytes], out: queue.Queue[object]) -> None:
    fd = stream.fileno()
    pending = b""
    try:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            pending += data
            *complete, pending = pending.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
            for raw in complete:
                out.put(raw.decode("utf-8", errors="replace"))
            while len(pending) > _MAX_LINE:
                out.put(pending[:_MAX_LINE].decode("utf-8", errors="replace"))
                pending = pending[_MAX_LINE:]
        if pending:
            out.put(pending.decode("utf-8", errors="replace"))
    finally:
        out.put(_EOF)


def _signal(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _group_alive(pgid: int, proc: subprocess.Popen[bytes]) -> bool:
    """True while a process of the group runs (zombies waiting for init to reap them don't)."""
    proc.poll()  # reap the leader so that it does not count as a zombie
    if not _signal(pgid, 0):
        return False
    if not _HAVE_PROC:
        return True
    return any(True for _ in _members(pgid))


def _members(pgid: int) -> Iterator[int]:
    """The running (non-zombie) processes of a group, read from /proc."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        if len(fields) > 2 and fields[0] != b"Z" and int(fields[2]) == pgid:
            yield int(entry.name)


def _stop_group(pgid: int, proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the group, SIGKILL whatever is left after `grace` seconds."""
    if not _group_alive(pgid, proc):
        return
    _signal(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _group_alive(pgid, proc):
            return
        time.sleep(0.05)
    _signal(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
