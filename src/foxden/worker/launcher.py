"""Renderers that die with their worker, even when the worker is killed outright (SIGKILL).

On Linux a renderer is started through a tiny Python prelude that sets the lease's resource
limits (`setrlimit`), asks the kernel to send it SIGKILL when the thread that started it dies
(`prctl(PR_SET_PDEATHSIG)`), then `exec`s the renderer (or the sandbox that runs it) in place
(same process id, same process group). The worker's slot thread waits for the renderer for as
long as it runs, so the signal comes only when the worker itself is gone. Elsewhere the command
runs unchanged (and without limits).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

_PRELUDE = (
    "import ctypes,os,resource,signal,sys\n"
    "parent=int(sys.argv[1])\n"
    "for item in filter(None,sys.argv[2].split(',')):\n"
    " name,soft,hard=item.split(':')\n"
    " resource.setrlimit(getattr(resource,'RLIMIT_'+name),(int(soft),int(hard)))\n"
    "ctypes.CDLL(None,use_errno=True).prctl(1,signal.SIGKILL,0,0,0)\n"  # PR_SET_PDEATHSIG
    "os.getppid()!=parent and os._exit(137)\n"  # the worker died before prctl
    "os.execvp(sys.argv[3],sys.argv[3:])\n"
)


def dies_with_worker(
    argv: list[str], worker_pid: int, rlimits: Mapping[str, tuple[int, int]] | None = None
) -> list[str]:
    """`argv`, wrapped so that the program is killed if the worker process dies, and runs under
    `rlimits` (resource names without RLIMIT_, such as "CPU", to (soft, hard))."""
    if not sys.platform.startswith("linux"):
        return list(argv)
    limits = ",".join(f"{name}:{soft}:{hard}" for name, (soft, hard) in (rlimits or {}).items())
    return [sys.executable, "-S", "-c", _PRELUDE, str(worker_pid), limits, *argv]
