"""Processes of this machine: which ones use a folder (the worker's leftovers, `foxden up`'s
stragglers). Linux reads /proc; elsewhere nothing is found."""

from __future__ import annotations

import os
from pathlib import Path


def processes_using(folder: Path) -> list[int]:
    """Ids of processes (not this one) whose command line names something in `folder` (a
    renderer started by the worker names its scene there). Linux only: [] elsewhere."""
    target = str(folder.resolve())
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        if target + os.sep in cmdline or cmdline.endswith(target):
            found.append(int(entry.name))
    return found
