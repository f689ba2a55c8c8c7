"""Commands that act on tasks already submitted: stop, resume, abort, delete, restart, log.

`stop|resume|abort|delete` take several task ids: each gets its own line (what happened, or why
the farm refused), and the command exits 1 if any was refused.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from typing import Any

from foxden.cli.client import client_for, farm_options
from foxden.errors import BadRequest, Conflict, FoxdenError

_REFUSED = re.compile(r"^cannot (\w+) a task that is (\w+): (.*)$", re.DOTALL)

#: command -> (help, what the line says once done)
_OPS: dict[str, tuple[str, str]] = {
    "stop": ("stop queued or rendering tasks (running frames are killed)", "stopped"),
    "resume": ("resume stopped tasks", "resumed"),
    "abort": ("abort tasks for good (frames not done become aborted)", "aborted"),
    "delete": ("delete tasks that are not queued or rendering (stop them first)", "deleted"),
}


def register(sub: Any) -> None:
    """Add the task commands."""
    farm = farm_options()
    for name, (help_text, _done) in _OPS.items():
        p = sub.add_parser(name, parents=[farm], help=help_text, description=help_text)
        p.add_argument(
            "task_ids", type=int, nargs="+", metavar="TASK", help="task id (several allowed)"
        )
        p.set_defaults(func=_each, op=name)

    p = sub.add_parser(
        "restart",
        parents=[farm],
        help="render a task's frames again (its failed ones unless told otherwise)",
    )
    p.add_argument("task_id", type=int, metavar="TASK", help="task id")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--failed", action="store_true", help="restart the failed frames (the default)"
    )
    which.add_argument("--frames", metavar="SPEC", help="restart these frames: 1-5,8 or 1-10[2]")
    which.add_argument("--all", action="store_true", help="restart every frame of the task")
    p.set_defaults(func=_restart)

    p = sub.add_parser("log", parents=[farm], help="print the render log of one frame")
    p.add_argument("task_id", type=int, metavar="TASK", help="task id")
    p.add_argument("frame", type=int, metavar="FRAME", help="frame number")
    p.add_argument(
        "--attempt", type=int, metavar="N", help="only the log of attempt N (default: all)"
    )
    p.set_defaults(func=_log)


def refusal(task_id: int, exc: FoxdenError) -> str:
    """Why the farm refused an operation on a task, in one line that names the task."""
    found = _REFUSED.match(exc.message)
    if isinstance(exc, Conflict) and found:
        return f"task {task_id} is {found.group(2)}: {found.group(3)}"
    if exc.message.startswith(f"no task {task_id} "):
        return exc.message
    return f"task {task_id}: {exc.message}"


def _each(args: argparse.Namespace) -> int:
    """One operation on each task named; a line per task, exit 1 if any was refused."""
    done = _OPS[args.op][1]
    failed = 0
    with client_for(args) as client:
        act: Callable[[int], Any] = getattr(client, args.op)
        for task_id in dict.fromkeys(args.task_ids):
            try:
                task = act(task_id)
            except FoxdenError as exc:
                failed += 1
                print(f"foxden: {refusal(task_id, exc)}", file=sys.stderr, flush=True)
                continue
            status = "" if task is None else f" ({task.status})"
            print(f"task {task_id} {done}{status}", flush=True)
    return 1 if failed else 0


def _restart(args: argparse.Namespace) -> int:
    task_id = args.task_id
    with client_for(args) as client:
        try:
            if args.frames:
                task = client.restart(task_id, "all", frames=args.frames)
                what = f"frames {args.frames}"
            else:
                kind = "all" if args.all else "failed"
                if kind == "failed" and not client.task(task_id).counts.get("failed", 0):
                    raise BadRequest("it has no failed frame to restart (--frames or --all)")
                task = client.restart(task_id, kind)
                what = "every frame" if args.all else "its failed frames"
        except FoxdenError as exc:
            print(f"foxden: {refusal(task_id, exc)}", file=sys.stderr)
            return 1
    print(f"task {task_id}: restarted {what}; it is {task.status}")
    return 0


def _log(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        text = client.frame_log(args.task_id, args.frame, attempt=args.attempt)
    sys.stdout.write(text if not text or text.endswith("\n") else text + "\n")
    if not text:
        print(f"frame {args.frame} of task {args.task_id} has no log yet", file=sys.stderr)
    return 0
