"""bench/overhead.py reads Blender's end from the worker's log: no line yet is not a crash."""

from __future__ import annotations

import importlib.util
import sys
from datetime import datetime
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "overhead.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_overhead", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_overhead", module)
    spec.loader.exec_module(module)
    return module


LOG_BEFORE_EXIT = """\
2026-11-29 01:02:03,100 INFO foxden.worker.agent: claimed lease 4: task 2, frames 1-10
2026-11-29 01:02:24,250 INFO foxden.worker.messenger: lease 4: frame 10 done
"""
LOG_AFTER_EXIT = (
    LOG_BEFORE_EXIT
    + "2026-11-29 01:02:24,731 INFO foxden.worker.lease: lease 4: blender ended with status 0 "
    "after 20.52s\n"
)


def test_a_log_without_blenders_end_gives_none_not_an_index_error() -> None:
    bench = _bench()
    assert bench.last_renderer_seconds("") is None
    assert bench.last_renderer_seconds(LOG_BEFORE_EXIT) is None  # the task is done, Blender not
    assert bench.renderer_end(LOG_BEFORE_EXIT) is None


def test_blenders_end_is_read_with_its_time() -> None:
    bench = _bench()
    assert bench.last_renderer_seconds(LOG_AFTER_EXIT) == 20.52
    ended, seconds = bench.renderer_end(LOG_AFTER_EXIT)
    assert seconds == 20.52
    assert ended == datetime(2026, 11, 29, 1, 2, 24, 731000).timestamp()
    # a Blender process the worker stopped ended too: its exit is when the clock stops
    stopped = LOG_AFTER_EXIT.replace("status 0 after 20.52s", "status -15 after 21.00s")
    assert bench.renderer_end(stopped) == (ended, 21.0)
    # another program's end is not Blender's
    assert bench.renderer_end(LOG_AFTER_EXIT.replace("blender ended", "ffmpeg ended")) is None
