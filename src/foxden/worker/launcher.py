"""Renderers that die with their worker, even when the worker is killed outright (SIGKILL).

On Linux a renderer is started through a tiny Python prelude that asks the kernel to send it
SIGKILL when the thread that started it dies (`prctl(PR_SET_PDEATHSIG)`), then `exec`s the
renderer in place (same process id, same process group). The worker's slot thread waits for the
renderer for as long as it runs, so the signal comes only when the worker itself is gone.
Elsewhere the command runs unchanged.
"""

from __future__ import annotations

import sys

_PRELUDE = (
    "import ctypes,os,signal,sys\n"
    "parent=int(sys.argv[1])\n"
    "ctypes.CDLL(None,use_errno=True).prctl(1,signal.SIGKILL,0,0,0)\n"  # PR_SET_PDEATHSIG
    "os.getppid()!=parent and os._exit(137)\n"  # the worker died before prctl
    "os.execvp(sys.argv[2],sys.argv[2:])\n"
)


def dies_with_worker(argv: list[str], worker_pid: int) -> list[str]:
    """`argv`, wrapped so that the program is killed if the worker process dies."""
    if not sys.platform.startswith("linux"):
        return list(argv)
    return [sys.executable, "-S", "-c", _PRELUDE, str(worker_pid), *argv]
