"""run_process: streaming, stopping whole process groups, no orphans."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from foxden.worker import process
from foxden.worker.process import kill_all, live_groups, run_process
from tests.waiting import wait_until


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in a process group, from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def test_streams_lines_in_order_with_exit_status(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_process(
        ["sh", "-c", 'echo one; printf "two\\rthree\\r\\n"; echo "$FOO" >&2; printf tail; exit 3'],
        tmp_path,
        {"FOO": "from env"},
        lines.append,
    )
    assert result.returncode == 3 and not result.killed
    assert lines == ["one", "two", "three", "from env", "tail"]


def test_callbacks_run_in_the_calling_thread(tmp_path: Path) -> None:
    threads: set[int] = set()
    run_process(
        ["sh", "-c", "echo a; echo b"],
        tmp_path,
        None,
        lambda _line: threads.add(threading.get_ident()),
        lambda: threads.add(threading.get_ident()) or False,
    )
    assert threads == {threading.get_ident()}


def test_should_stop_kills_the_whole_group(tmp_path: Path) -> None:
    started: list[str] = []
    pgids: list[int] = []

    def should_stop() -> bool:
        if started and not pgids:
            pgids.extend(live_groups())
            assert len(group_members(pgids[0])) == 3  # sh and both sleeps
        return bool(started)

    begin = time.monotonic()
    result = run_process(
        ["sh", "-c", "sleep 100 & sleep 100 & echo started; wait"],
        tmp_path,
        None,
        started.append,
        should_stop,
        poll_interval=0.05,
    )
    assert result.killed and result.returncode < 0
    assert time.monotonic() - begin < 10
    assert group_members(pgids[0]) == []
    assert live_groups() == []


def test_sigterm_ignored_then_sigkill(tmp_path: Path) -> None:
    pgid: list[int] = []

    lines: list[str] = []

    def should_stop() -> bool:
        pgid.extend(live_groups())
        return bool(lines)

    script = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(100)"
    )
    argv = [sys.executable, "-c", script]
    result = run_process(argv, tmp_path, None, lines.append, should_stop, grace=0.5)
    assert result.killed and result.returncode == -9
    assert group_members(pgid[0]) == []


def test_leftover_children_are_killed_when_the_leader_exits(tmp_path: Path) -> None:
    lines: list[str] = []
    begin = time.monotonic()
    result = run_process(["sh", "-c", "sleep 100 & echo $!"], tmp_path, None, lines.append)
    assert result.returncode == 0 and not result.killed
    assert time.monotonic() - begin < 10
    child = int(lines[0])
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text()


def test_kill_all_stops_running_processes(tmp_path: Path) -> None:
    results = []

    def run() -> None:
        results.append(run_process(["sh", "-c", "sleep 100 & sleep 100"], tmp_path))

    thread = threading.Thread(target=run)
    thread.start()
    pgid = wait_until("a live process group", live_groups, timeout=5, every=0.02)[0]
    assert kill_all() == 1
    thread.join(timeout=10)
    assert results and results[0].killed
    assert group_members(pgid) == []


def test_on_line_error_stops_the_process_and_is_raised(tmp_path: Path) -> None:
    def boom(line: str) -> None:
        raise ValueError(f"bad line {line}")

    with pytest.raises(ValueError, match="bad line hi"):
        run_process(["sh", "-c", "echo hi; sleep 100"], tmp_path, None, boom)
    assert process.live_groups() == []


def test_missing_program_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        run_process(["/no/such/program"], tmp_path)


def test_a_program_that_closes_its_output_before_it_exits_is_not_killed(tmp_path: Path) -> None:
    """The end of the output is not the end of the program: coreutils close their output at
    exit, a moment before they end. Stopping the group at EOF killed such a program with
    SIGTERM (a `sleep 1` frame failed "exited with signal 15" now and then); it must be left
    to exit with its own status."""
    result = run_process(
        ["sh", "-c", "echo before; exec >&- 2>&-; sleep 0.5; exit 3"], tmp_path, poll_interval=0.05
    )
    assert result == process.ProcessResult(3, False)


def test_a_program_that_closed_its_output_is_still_stopped_when_asked(tmp_path: Path) -> None:
    began = time.monotonic()
    result = run_process(
        ["sh", "-c", "exec >&- 2>&-; sleep 30"],
        tmp_path,
        should_stop=lambda: time.monotonic() - began > 0.3,
        poll_interval=0.05,
        grace=1.0,
    )
    assert result.killed and result.returncode != 0
    assert time.monotonic() - began < 10
