"""Commands for people using a farm: login, upload, submit, tasks, frames, download, projects, render.

The farm and key come from `foxden login` (a 0600 file in the user's config folder), overridden by
FOXDEN_SERVER / FOXDEN_ACCOUNT / FOXDEN_ACCESS_KEY, or from `--farm-dir DIR` (the
`DIR/credentials.json` that `foxden up --data-dir DIR` writes).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foxden.errors import BadRequest, Conflict, NotFound, Unauthorized, WaitTimeout

if TYPE_CHECKING:
    from foxden.client.api import Client
    from foxden.client.records import Project, Task

DEFAULT_PROJECT = "default"
RENDER_POLL = 1.0  # seconds between `render`'s looks at its task

#: the statuses a task can be in, the words every table and filter of the command line uses.
TASK_STATUSES = ("queued", "rendering", "stopped", "done", "failed", "aborted")

#: a frame's status in the same words as a task's (the API's `waiting` and `running`).
_FRAME_WORDS = {"waiting": "queued", "running": "rendering"}


def frame_word(status: str) -> str:
    """A frame status in the command line's words: queued, rendering, stopped, done, ..."""
    return _FRAME_WORDS.get(status, status)


def farm_options() -> argparse.ArgumentParser:
    """The options that say which farm to use (a parent parser)."""
    farm = argparse.ArgumentParser(add_help=False)
    farm.add_argument(
        "--farm-dir",
        type=Path,
        metavar="DIR",
        help="use DIR/credentials.json written by 'foxden up --data-dir DIR'",
    )
    farm.add_argument(
        "--ca-cert",
        type=Path,
        metavar="PEM",
        help="trust this CA bundle or farm certificate for HTTPS (env FOXDEN_CA_CERT)",
    )
    return farm


def register(sub: Any) -> None:
    """Add the client commands."""
    farm = farm_options()
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON (for scripts)")

    p = sub.add_parser("login", help="check and store the farm address, account and access key")
    p.add_argument("--server", required=True, help="URL, host:port, or host (port 8642)")
    p.add_argument("--account", required=True, help="your account's name on the farm")
    p.add_argument("--key", required=True, help="the account's access key")
    p.add_argument(
        "--ca-cert",
        type=Path,
        help="the farm's certificate (or CA bundle) to trust over HTTPS; stored with the login",
    )
    p.set_defaults(func=_login)

    p = sub.add_parser("upload", parents=[farm, as_json], help="upload files and folders")
    p.add_argument("paths", nargs="+", metavar="PATH", help="a file or folder to upload")
    p.add_argument("--force", action="store_true", help="send everything, even what the farm has")
    p.add_argument(
        "--follow-links",
        action="store_true",
        help="upload what symbolic links pointing outside a folder point to (default: skip them)",
    )
    p.set_defaults(func=_upload)

    p = sub.add_parser(
        "submit", parents=[farm, as_json], help="submit a task for an uploaded scene"
    )
    _task_options(p)
    p.add_argument("--scene", required=True, help="the scene's local path (uploaded before)")
    p.add_argument("--project", required=True, help="the project (and software) to render with")
    p.add_argument(
        "--depends-on",
        type=int,
        nargs="+",
        default=[],
        metavar="ID",
        help="your tasks this one waits for: it renders once they are all done",
    )
    p.add_argument(
        "--limit",
        nargs="+",
        default=[],
        metavar="NAME",
        dest="limits",
        help="named limits the task takes (an admin's `foxden limit list` shows them): the farm never runs "
        "more frames of the tasks holding one than its maximum",
    )
    p.set_defaults(func=_submit)

    p = sub.add_parser("tasks", parents=[farm, as_json], help="list your tasks")
    p.add_argument("--project", help="only this project's tasks")
    p.add_argument("--status", choices=TASK_STATUSES, help="only tasks in this status: %(choices)s")
    p.add_argument(
        "--limit", type=int, default=50, help="show at most this many (newest first; default 50)"
    )
    p.set_defaults(func=_tasks)

    p = sub.add_parser("frames", parents=[farm, as_json], help="the frames of a task")
    p.add_argument("task_id", type=int, metavar="TASK", help="task id")
    p.set_defaults(func=_frames)

    p = sub.add_parser("download", parents=[farm, as_json], help="download a task's outputs")
    p.add_argument("task_id", type=int, metavar="TASK", help="task id")
    p.add_argument(
        "--out", type=Path, default=Path("."), help="folder to download into (default .)"
    )
    p.add_argument("--force", action="store_true", help="fetch everything again")
    p.add_argument(
        "--follow",
        action="store_true",
        help="fetch each frame as soon as it is done, until the task is done, failed, aborted "
        "or stopped (Ctrl-C stops following; the task renders on)",
    )
    p.add_argument(
        "--poll",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="with --follow: seconds between looks at the task (default 2)",
    )
    p.set_defaults(func=_download)

    p = sub.add_parser(
        "projects",
        parents=[farm, as_json],
        help="list projects; create one (create); give one software (config); set the time "
        "limits of its tasks (time-limits)",
    )
    p.set_defaults(func=_projects)
    actions = p.add_subparsers(dest="projects_action", metavar="ACTION")
    c = actions.add_parser("create", parents=[farm, as_json], help="create a project")
    c.add_argument("name", help="the project's name")
    c.add_argument("--software", help="default plugin config, e.g. 'blender 3.4'")
    c.add_argument("--plugins", default="", help="comma-separated plugins")
    c.set_defaults(func=_project_create)
    t = actions.add_parser(
        "time-limits",
        parents=[farm, as_json],
        help="show or set the default time limits of a project's tasks",
    )
    t.add_argument("name", help="the project's name")
    t.add_argument(
        "--frame-timeout",
        type=int,
        metavar="S",
        help="seconds one frame may render before it is stopped and fails as timed out (0: none)",
    )
    t.add_argument(
        "--progress-timeout",
        type=int,
        metavar="S",
        help="seconds a renderer may go without progress or a log line (0: none)",
    )
    t.set_defaults(func=_project_time_limits)
    _config_commands(actions, [farm, as_json])

    p = sub.add_parser(
        "render",
        parents=[farm],
        help="upload a scene's folder, render it, download each frame as it is done",
    )
    p.add_argument("scene", type=Path, metavar="SCENE", help="the scene file (.blend) to render")
    _task_options(p)
    p.add_argument(
        "--project",
        help=f"project to use (default: '{DEFAULT_PROJECT}', created with the farm's blender)",
    )
    p.add_argument(
        "--out", type=Path, default=Path("renders"), help="where the frames go (default ./renders)"
    )
    p.add_argument(
        "--timeout",
        type=float,
        help="stop waiting after this many seconds (the task renders on)",
    )
    p.add_argument(
        "--stop-on-interrupt",
        action="store_true",
        help="on Ctrl-C, stop the task too (by default it renders on and can be downloaded later)",
    )
    p.set_defaults(func=_render)

    p = sub.add_parser(
        "movie",
        parents=[farm, as_json],
        help="make a movie of a task's frames (a follow-up task that waits until they are done)",
    )
    p.add_argument("task_id", type=int, metavar="TASK", help="task id")
    p.add_argument("--prores", action="store_true", help="a ProRes .mov instead of an H.264 MP4")
    p.add_argument("--fps", type=float, help="frames per second (default: the scene's, else 24)")
    p.add_argument(
        "--out",
        type=Path,
        help="wait for the movie and download it into this folder (default: do not wait)",
    )
    p.add_argument("--timeout", type=float, help="with --out: stop waiting after this many seconds")
    p.set_defaults(func=_movie)


def _config_commands(actions: Any, parents: list[argparse.ArgumentParser]) -> None:
    """`foxden projects config add|remove|default`: the software a project renders with."""
    cfg = actions.add_parser(
        "config", help="add, remove or choose the default software of a project"
    )
    which = cfg.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    a = which.add_parser("add", parents=parents, help="give a project software to render with")
    a.add_argument("project", help="the project's name")
    a.add_argument("software", help="software the farm offers, e.g. 'blender 4.2'")
    a.add_argument("--plugins", default="", help="comma-separated plugins")
    a.add_argument("--default", action="store_true", help="make it the project's default")
    a.set_defaults(func=_config_add)
    for name, help_text, func in (
        ("remove", "remove software from a project", _config_remove),
        ("default", "make software the project's default", _config_default),
    ):
        c = which.add_parser(name, parents=parents, help=help_text)
        c.add_argument("project", help="the project's name")
        c.add_argument(
            "config",
            metavar="CONFIG",
            help="the config's id (#N in 'foxden projects') or its software, e.g. 'blender 4.2'",
        )
        c.set_defaults(func=func)


def _task_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frames", required=True, help="frame spec: 1-10[1], 1,2,3, 1,20-30[2]")
    p.add_argument("--layer", default="", help="render layer (view layer; default: the scene's)")
    p.add_argument("--camera", default="", help="camera to render (default: the scene's)")
    p.add_argument("--artist", default="", help="who the task is for (shown in task lists)")
    p.add_argument(
        "--priority", type=int, default=0, help="higher renders first among your tasks (default 0)"
    )
    p.add_argument("--chunk-size", type=int, help="frames per worker claim")
    p.add_argument(
        "--chunk-seconds",
        type=float,
        metavar="S",
        help="how long one claim's chunk should render: as many frames as fit, from the "
        "task's measured frame times (1 until one is done; at most --chunk-size, else 100)",
    )
    p.add_argument(
        "--frame-timeout",
        type=int,
        metavar="S",
        help="seconds one frame may render before it is stopped and fails as timed out "
        "(retried; default: the project's, else the account's)",
    )
    p.add_argument(
        "--progress-timeout",
        type=int,
        metavar="S",
        help="seconds the renderer may go without progress or a log line before it is "
        "stopped (default: the project's)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="refuse to submit when the scene uses files that were never uploaded "
        "(default: submit, and warn about each)",
    )
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra task option (VALUE may be JSON)",
    )
    p.add_argument(
        "--webhook",
        metavar="URL",
        help="an http(s) URL that gets this task's events (task done or failed, frame failed); "
        "its signing secret is printed once (see `foxden webhooks`)",
    )
    p.add_argument(
        "--movie",
        nargs="?",
        const="h264",
        choices=("h264", "prores"),
        help="also make a movie of the frames once they are done: an H.264 MP4 (the default) "
        "or a ProRes .mov, at the scene's frame rate; it becomes one of the task's outputs",
    )


_TIMING_FLAGS = (  # --chunk-seconds, --frame-timeout, --progress-timeout: submit's fields
    ("chunk_seconds", "chunk_seconds"),
    ("frame_timeout", "frame_timeout_s"),
    ("progress_timeout", "progress_timeout_s"),
)


def _extra(args: argparse.Namespace) -> dict[str, Any]:
    extra: dict[str, Any] = {"artist": args.artist, "priority": args.priority}
    if args.chunk_size:
        extra["chunk_size"] = args.chunk_size
    for flag, key in _TIMING_FLAGS:
        if getattr(args, flag) is not None:
            extra[key] = getattr(args, flag)
    if args.strict:
        extra["strict"] = True
    if args.webhook:
        extra["webhook"] = args.webhook
    if getattr(args, "movie", None):
        extra["movie"] = args.movie
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BadRequest(f"--option {item!r}: write KEY=VALUE")
        try:
            extra[key] = json.loads(value)
        except ValueError:
            extra[key] = value
    return extra


@contextmanager
def client_for(args: argparse.Namespace) -> Iterator[Client]:
    """A client of the farm the command names (`--farm-dir`) or the stored login; a refused
    key is explained for where it came from."""
    from foxden.client.api import Client
    from foxden.client.settings import load_login, read_credentials

    farm_dir = getattr(args, "farm_dir", None)
    login = read_credentials(farm_dir / "credentials.json") if farm_dir else load_login()
    ca_cert = getattr(args, "ca_cert", None)
    with Client(login.server, login.access_key, verify=ca_cert or login.verify()) as client:
        try:
            yield client
        except Unauthorized as exc:
            if not exc.message.startswith("wrong access key"):
                raise
            raise Unauthorized(_wrong_key(farm_dir, login.server, login.account)) from None


_client = client_for


def _wrong_key(farm_dir: Path | None, server: str, account: str) -> str:
    """What to do when the farm refuses the key, for whoever uses it."""
    import os

    from foxden.client.settings import login_file

    if farm_dir is not None:
        creds = farm_dir / "credentials.json"
        return (
            f"the farm at {server} refused the access key in {creds}: that file is another "
            f"farm's; 'foxden up --data-dir {farm_dir}' writes its own farm's key there"
        )
    if os.environ.get("FOXDEN_ACCESS_KEY"):
        return (
            f"the farm at {server} refused the access key in FOXDEN_ACCESS_KEY: set the key "
            f"of account {account!r} on this farm"
        )
    return (
        f"the farm at {server} refused the access key stored in {login_file()}: log in again "
        f"with your account's key (foxden login --server {server} --account {account} --key "
        "KEY; 'foxden up' prints this line with its own key)"
    )


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _when(epoch: float | None) -> str:
    from foxden.vendor_records import vendor_time

    return vendor_time(epoch) or "-"


def _login(args: argparse.Namespace) -> int:
    from foxden.client.api import Client
    from foxden.client.settings import Login, save_login

    ca_cert = str(args.ca_cert.expanduser().resolve()) if args.ca_cert else ""
    with Client(args.server, args.key, verify=ca_cert or True) as client:
        try:
            me = client.login()
        except Unauthorized as exc:
            if not exc.message.startswith("wrong access key"):
                raise
            raise Unauthorized(
                f"the farm at {client.base_url} refused this access key: use the key the farm "
                f"gave account {args.account!r} (a farm started with 'foxden up' prints a ready "
                "'foxden login' line)"
            ) from None
        if me.name != args.account:
            raise Unauthorized(f"this key belongs to account {me.name!r}, not {args.account!r}")
        path = save_login(Login(client.base_url, args.account, args.key, ca_cert))
    print(f"logged in as {me.name} on {client.base_url} (saved in {path})")
    return 0


def _stats_line(verb: str, stats: Any) -> str:
    moved = stats.bytes_sent if verb == "uploaded" else stats.bytes_fetched
    count = stats.files_sent if verb == "uploaded" else stats.files_fetched
    return (
        f"{verb} {count} file(s), {_size(moved)}; {stats.files_skipped} of {stats.files} "
        f"already there; {stats.seconds:.1f} s"
    )


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def _upload(args: argparse.Namespace) -> int:
    with _client(args) as client:
        stats = client.upload(args.paths, force=args.force, follow_links=args.follow_links)
    for warning in stats.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        _print_json(stats.as_dict())
    else:
        print(_stats_line("uploaded", stats))
    return 0


def _submit(args: argparse.Namespace) -> int:
    with _client(args) as client:
        task = client.submit(
            args.project,
            args.scene,
            args.frames,
            render_layer=args.layer,
            camera=args.camera,
            **_extra(args),
            **_policy(args),
        )
    if args.json:
        _print_json(task.raw)
    else:
        print(task_summary(task))
        for warning in task.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        _webhook_secret(task)
        _movie_line(task)
    return 0


def _movie_line(task: Task) -> None:
    """Which task makes the movie a submission asked for (on stderr)."""
    movie = (task.options or {}).get("movie")
    if isinstance(movie, dict) and isinstance(movie.get("task_id"), int):
        print(
            f"movie: task {movie['task_id']} encodes the frames ({movie.get('codec', 'h264')}) "
            "once they are done",
            file=sys.stderr,
        )


def _policy(args: argparse.Namespace) -> dict[str, Any]:
    """Submit's --depends-on and --limit, as the submission's fields."""
    fields: dict[str, Any] = {}
    if args.depends_on:
        fields["depends_on"] = list(args.depends_on)
    if args.limits:
        fields["limits"] = list(args.limits)
    return fields


def _webhook_secret(task: Task) -> None:
    """The secret of the webhook given at submit (shown this once), on stderr."""
    if task.webhook_secret:
        print(
            f"webhook secret (shown this once, keep it to check signatures): {task.webhook_secret}",
            file=sys.stderr,
        )


def _spec(frames: str) -> str:
    """A frame spec as people write it: '1-24[1]' and '1,2,3' read '1-24' and '1-3'."""
    from foxden import frames as frame_spec

    plain = frames.replace("[1]", "")
    try:
        numbers = frame_spec.parse(frames)
    except BadRequest:
        return plain
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    simple = ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)
    return simple if len(simple) <= len(plain) else plain


def task_summary(task: Task) -> str:
    """One line: 'task 12 queued: shot.blend frames 1-24 (24 frames) in project demo, ...'."""
    scene = task.scene_path.replace("\\", "/").rsplit("/", 1)[-1]
    count = f"{task.frame_count} frame{'' if task.frame_count == 1 else 's'}"
    parts = [f"task {task.id} {task.status}: {scene} frames {_spec(task.frames)} ({count})"]
    parts[0] += f" in project {task.project_name}"
    if task.camera:
        parts.append(f"camera {task.camera}")
    if task.render_layer:
        parts.append(f"layer {task.render_layer}")
    if task.artist:
        parts.append(f"artist {task.artist}")
    if task.eta_seconds is not None:
        parts.append(f"ETA {eta_words(task.eta_seconds)}")
    if task.core_hours is not None:
        parts.append(f"{core_hours_words(task.core_hours)} core-hours (estimate)")
    if task.blocked_reason:
        parts.append(task.blocked_reason)
    return ", ".join(parts)


def _waiting_for(client: Client, task: Task) -> str:
    """Why no worker takes the task's waiting frames ('' when nothing but busy workers holds
    them, when its blocked reason says it already, or from a farm that does not say)."""
    try:
        policy = client.request("GET", f"/api/tasks/{int(task.id)}/policy")
    except NotFound:  # a farm older than the route
        return ""
    waiting = str((policy or {}).get("waiting_for") or "")
    return "" if waiting == task.blocked_reason else waiting


def _cut(text: str, width: int) -> str:
    """`text` on one line, at most `width` characters."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _tasks(args: argparse.Namespace) -> int:
    with _client(args) as client:
        page = client.tasks(
            project_name=args.project, task_status=args.status, page_size=args.limit
        )
    if args.json:
        _print_json([t.raw for t in page.items])
        return 0
    rows = [
        (
            str(t.id),
            t.project_name,
            f"{t.status} (blocked)" if t.blocked_reason else t.status,
            _spec(t.frames),
            f"{t.counts.get('done', 0)}/{t.frame_count}",
            eta_words(t.eta_seconds),
            core_hours_words(t.core_hours),
            t.camera or "-",
            t.render_layer or "-",
            t.artist or "-",
            t.cg_soft_name,
            t.scene_path,
            _when(t.submit_time),
            _cut(t.failure_summary, 70) or "-",
        )
        for t in page.items
    ]
    header = ("ID", "PROJECT", "STATUS", "FRAMES", "DONE", "ETA", "CORE-H", "CAMERA")
    _table((*header, "LAYER", "ARTIST", "SOFTWARE", "SCENE", "SUBMITTED", "FAILURES"), rows)
    if page.total > len(page.items):
        print(f"({len(page.items)} of {page.total}; --limit for more)")
    return 0


def _frames(args: argparse.Namespace) -> int:
    with _client(args) as client:
        task = client.task(args.task_id, frames=True)
        waiting = "" if args.json else _waiting_for(client, task)
    frames = task.frames_detail or []
    if args.json:
        _print_json(task.raw.get("frames_detail", []))
        return 0
    print(task_summary(task))
    if waiting:
        print(f"waiting: {waiting}")
    rows = [
        (
            str(f.number),
            frame_word(f.status),
            str(f.attempts),
            f"{f.render_time:.1f}s" if f.render_time else "-",
            ", ".join(o.path.rsplit("/", 1)[-1] for o in f.outputs) or "-",
            (f.failure_category or "").replace("_", " "),
            f.error.splitlines()[0] if f.error else "",
        )
        for f in frames
    ]
    _table(("FRAME", "STATUS", "TRIES", "TIME", "OUTPUTS", "WHY", "ERROR"), rows)
    failed = [f for f in frames if f.advice]
    if failed:
        print(f"advice: {failed[0].advice}")
    return 0


def _download(args: argparse.Namespace) -> int:
    if args.follow:
        return _download_follow(args)
    with _client(args) as client:
        stats = client.download(args.task_id, args.out, force=args.force)
        task = client.task(args.task_id)
    if args.json:
        _print_json(stats.as_dict())
        return 0
    print(_stats_line("downloaded", stats))
    folder = args.out / task.output_folder
    if folder.is_dir():
        print(f"frames in {folder}")
    else:
        print(f"task {task.id} has no output files yet (it is {task.status})")
    return 0


def _download_follow(args: argparse.Namespace) -> int:
    """`foxden download TASK --follow`: each frame as it is done, a progress line on stderr;
    0 once the task is done, 1 when it ended otherwise (failed, aborted, stopped), 130 on
    Ctrl-C (the task renders on)."""
    again = f"foxden download {args.task_id} --follow --out {shlex.quote(str(args.out))}"
    again += _farm_flags(args)
    with _client(args) as client:
        try:
            with _follow_display(args.task_id, None) as show:
                stats = client.download(
                    args.task_id,
                    args.out,
                    force=args.force,
                    follow=True,
                    poll=args.poll,
                    on_progress=show,
                )
        except KeyboardInterrupt:
            print(
                f"\nstopped following task {args.task_id} (it renders on on the farm): "
                f"'{again}' fetches the rest",
                file=sys.stderr,
            )
            return 130
        task = client.task(args.task_id)
    if args.json:
        _print_json(stats.as_dict())
    else:
        print(_stats_line("downloaded", stats))
        folder = args.out / task.output_folder
        print(f"frames in {folder}" if folder.is_dir() else f"task {task.id} left no output files")
    if stats.task_status == "done":
        return 0
    flags = _farm_flags(args)
    if stats.task_status == "stopped":
        print(
            f"task {task.id} was stopped: the frames done so far are downloaded; resume it "
            f"('foxden resume {task.id}{flags}') and '{again}' fetches the rest",
            file=sys.stderr,
        )
    else:
        print(
            f"task {task.id} {stats.task_status}: {task.counts.get('done', 0)} of "
            f"{task.frame_count} frame(s) rendered; what failed: foxden frames {task.id}{flags}",
            file=sys.stderr,
        )
    return 1


def eta_words(seconds: float | None) -> str:
    """A task's ETA for a table or a progress line: '2 min 05 s', '-' when unknown."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def core_hours_words(hours: float | None) -> str:
    """A task's core-hour estimate for a table: '1.25', '<0.01', '-' when unknown."""
    if hours is None:
        return "-"
    if hours < 0.01:
        return "<0.01"
    return f"{hours:.2f}" if hours < 10 else f"{hours:,.0f}"


def progress_line(task: Task, stats: Any) -> str:
    """'task 12 rendering: 3/10 frames done, 3 file(s) fetched, ETA 2 min 05 s'."""
    line = (
        f"task {task.id} {task.status}: {task.counts.get('done', 0)}/{task.frame_count} "
        f"frames done, {stats.files_fetched} file(s) fetched"
    )
    if task.eta_seconds is not None:
        line += f", ETA {eta_words(task.eta_seconds)}"
    return line


@contextmanager
def _follow_display(task_id: int, deadline: float | None) -> Iterator[Callable[[Task, Any], None]]:
    """What a follow shows after each poll: a progress bar on a terminal, else a line each time
    the line changes (on stderr). Past `deadline` (time.monotonic()), it raises WaitTimeout."""

    def check(task: Task) -> None:
        if deadline is not None and time.monotonic() > deadline:
            raise WaitTimeout(
                f"task {task_id} did not finish in time (it is {task.status}, "
                f"{task.counts.get('done', 0)}/{task.frame_count} frames done and downloaded)"
            )

    if sys.stderr.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()) as bar:
            tid = bar.add_task(f"task {task_id}", total=None)

            def show_bar(task: Task, stats: Any) -> None:
                eta = f", ETA {eta_words(task.eta_seconds)}" if task.eta_seconds else ""
                bar.update(
                    tid,
                    total=task.frame_count,
                    completed=task.counts.get("done", 0),
                    description=f"task {task_id} {task.status} "
                    f"({stats.files_fetched} file(s) fetched{eta})",
                )
                check(task)

            yield show_bar
        return
    last: list[tuple[str, int, int]] = []

    def show_line(task: Task, stats: Any) -> None:
        moved = (task.status, task.counts.get("done", 0), stats.files_fetched)
        if not last or last[-1] != moved:  # a line when something moved, not for each poll
            last.append(moved)
            print(progress_line(task, stats), file=sys.stderr, flush=True)
        check(task)

    yield show_line


def _projects(args: argparse.Namespace) -> int:
    with _client(args) as client:
        projects = client.projects()
    if args.json:
        _print_json([_project_json(p) for p in projects])
        return 0
    rows = [
        (
            p.project_name,
            ", ".join(
                f"#{c.config_id} {c.cg_soft_name}"
                f"{' [' + c.plugin_name + ']' if c.plugin_name else ''}"
                f"{' (default)' if c.is_default and len(p.plugins) > 1 else ''}"
                for c in p.plugins
            )
            or "(no software: foxden projects config add)",
            _when(p.create_time),
        )
        for p in projects
    ]
    _table(("PROJECT", "SOFTWARE", "CREATED"), rows)
    return 0


def _project_json(p: Project) -> dict[str, Any]:
    return p.model_dump(mode="json")


def _project_create(args: argparse.Namespace) -> int:
    with _client(args) as client:
        project = client.create_project(args.name, args.software, args.plugins)
    if args.json:
        _print_json(_project_json(project))
    else:
        print(f"created project {project.project_name}")
    return 0


def _project_time_limits(args: argparse.Namespace) -> int:
    """Show a project's default time limits; set those given (the others are kept)."""
    with _client(args) as client:
        project = client.project(args.name)
        if args.frame_timeout is not None or args.progress_timeout is not None:
            project = client.set_time_limits(
                args.name,
                project.frame_timeout_s if args.frame_timeout is None else args.frame_timeout,
                project.progress_timeout_s
                if args.progress_timeout is None
                else args.progress_timeout,
            )
    if args.json:
        _print_json(_project_json(project))
        return 0

    def shown(seconds: int | None) -> str:
        return f"{seconds} s" if seconds else "none"

    print(
        f"project {project.project_name}: frame time limit {shown(project.frame_timeout_s)}, "
        f"no-progress limit {shown(project.progress_timeout_s)} (a task's own limits come first)"
    )
    return 0


def _config_add(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        project = client.add_config(
            args.project, args.software, args.plugins, is_default=args.default
        )
    return _config_done(args, project, f"added {args.software} to project {args.project}")


def _config_remove(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        config = _find_config(client.project(args.project), args.config)
        project = client.delete_config(args.project, config.config_id)
    return _config_done(
        args, project, f"removed {config.cg_soft_name} (#{config.config_id}) from {args.project}"
    )


def _config_default(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        config = _find_config(client.project(args.project), args.config)
        project = client.modify_config(args.project, config.config_id, is_default=True)
    return _config_done(
        args,
        project,
        f"project {args.project} renders with {config.cg_soft_name} (#{config.config_id}) "
        "unless a task says otherwise",
    )


def _config_done(args: argparse.Namespace, project: Project, line: str) -> int:
    if args.json:
        _print_json(_project_json(project))
        return 0
    print(line)
    for c in project.plugins:
        plugins = f" [{c.plugin_name}]" if c.plugin_name else ""
        print(f"  #{c.config_id} {c.cg_soft_name}{plugins}{' (default)' if c.is_default else ''}")
    return 0


def _find_config(project: Project, wanted: str) -> Any:
    """A project's config by id ('3' or '#3') or by its software ('blender 4.2')."""
    key = wanted.strip().lstrip("#")
    if key.isdigit():
        found = [c for c in project.plugins if c.config_id == int(key)]
    else:
        found = [c for c in project.plugins if c.cg_soft_name.lower() == key.lower()]
    have = ", ".join(f"#{c.config_id} {c.cg_soft_name}" for c in project.plugins) or "none"
    if not found:
        raise NotFound(f"project {project.project_name} has no config {wanted!r}; it has: {have}")
    if len(found) > 1:
        raise BadRequest(
            f"project {project.project_name} has {len(found)} configs with {wanted!r}: "
            f"name one by its id ({have})"
        )
    return found[0]


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    lines: list[Sequence[object]] = [header, *rows]
    widths = [max(len(str(r[i])) for r in lines) for i in range(len(header))]
    for row in lines:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def default_project(client: Any, name: str | None, *, embedded: bool = False) -> str:
    """The project `render` uses: the one named, or 'default' made with the farm's Blender.

    `embedded`: the farm is a `foxden up` one of this user (`--farm-dir`), which the hint names."""
    if name:
        return name
    try:
        client.project(DEFAULT_PROJECT)
        return DEFAULT_PROJECT
    except NotFound:
        pass
    blenders = [s.cg_soft_name for s in client.software() if s.cg_soft_name.startswith("blender")]
    if not blenders:
        start = (
            "start the farm with a worker (foxden up --workers 1)"
            if embedded
            else "ask the farm's administrator to start a render node with Blender"
        )
        raise BadRequest(
            f"no worker of this farm offers Blender: {start}, or name a project with --project"
        )
    client.create_project(DEFAULT_PROJECT, sorted(blenders)[-1])
    return DEFAULT_PROJECT


def _render(args: argparse.Namespace) -> int:
    from foxden.client.api import check_scene_path

    scene = args.scene.expanduser().resolve()
    if not check_scene_path(str(scene)):  # a folder is refused there, naming its scenes
        raise NotFound(f"{args.scene}: no such scene file (nothing at {scene})")
    with client_for(args) as client:
        project = default_project(client, args.project, embedded=bool(args.farm_dir))
        up = client.upload([scene.parent])
        for warning in up.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(_stats_line("uploaded", up), file=sys.stderr)
        task = client.submit(
            project, scene, args.frames, render_layer=args.layer, camera=args.camera, **_extra(args)
        )
        print(task_summary(task), file=sys.stderr, flush=True)
        for warning in task.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        _webhook_secret(task)
        _movie_line(task)
        again = f"'foxden download {task.id} --follow --out {shlex.quote(str(args.out))}"
        again += f"{_farm_flags(args)}' fetches the rest"
        deadline = None if args.timeout is None else time.monotonic() + args.timeout
        try:
            with _follow_display(task.id, deadline) as show:  # each frame as it is done
                down = client.download(
                    task.id, args.out, follow=True, poll=RENDER_POLL, on_progress=show
                )
        except KeyboardInterrupt:
            return _interrupted(client, args, task.id)
        except WaitTimeout as exc:
            raise WaitTimeout(f"{exc.message}; it renders on: {again}") from None
        print(_stats_line("downloaded", down), file=sys.stderr)
        final = client.task(task.id, frames=True)
        if final.status == "done" and args.movie:
            _movie_of(client, final, args.out, deadline)
    folder = args.out / final.output_folder
    if final.status == "stopped":
        raise Conflict(
            f"task {final.id} was stopped: the frames it rendered are in {folder}; resume it "
            f"('foxden resume {final.id}{_farm_flags(args)}') and {again}"
        )
    if final.status != "done":
        _explain_failure(final, folder, _farm_flags(args))
        return 1
    print(f"{final.frame_count} frame(s) in {folder}")
    return 0


def _movie_of(client: Client, task: Task, out: Path, deadline: float | None) -> None:
    """`render --movie`: wait for the task's movie task and download the movie with the frames."""
    movie = (task.options or {}).get("movie")
    movie_id = movie.get("task_id") if isinstance(movie, dict) else None
    if not isinstance(movie_id, int):
        return
    print(f"making the movie (task {movie_id})...", file=sys.stderr, flush=True)
    left = None if deadline is None else max(0.0, deadline - time.monotonic())
    made = client.wait(movie_id, poll=RENDER_POLL, timeout=left, frames=True)
    if made.status != "done":
        _explain_failure(made, out / made.output_folder, "")
        return
    client.download(task.id, out)
    for output in client.outputs(movie_id):
        print(f"movie: {out / task.output_folder / Path(output.path).name}")


def _movie(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        codec = "prores" if args.prores else "h264"
        movie = client.make_movie(args.task_id, codec, fps=args.fps)
        spec = (movie.options or {}).get("movie") or {}
        if args.json and args.out is None:
            _print_json(movie.raw)
            return 0
        print(
            f"movie task {movie.id} of task {args.task_id}: {codec}, "
            f"{spec.get('fps', '?')} fps, {movie.status}"
            + (f" ({movie.blocked_reason})" if movie.blocked_reason else ""),
            file=sys.stderr,
        )
        if args.out is None:
            print(movie.id)
            return 0
        made = client.wait(movie.id, poll=RENDER_POLL, timeout=args.timeout, frames=True)
        if made.status != "done":
            _explain_failure(made, args.out / made.output_folder, _farm_flags(args))
            return 1
        client.download(made.id, args.out)
        for output in client.outputs(made.id):
            print(args.out / output.path)
    return 0


def _farm_flags(args: argparse.Namespace) -> str:
    """The options a later command needs to reach the same farm (`--farm-dir DIR`)."""
    flags = ""
    if getattr(args, "farm_dir", None):
        flags += f" --farm-dir {shlex.quote(str(args.farm_dir))}"
    if getattr(args, "ca_cert", None):
        flags += f" --ca-cert {shlex.quote(str(args.ca_cert))}"
    return flags


def _interrupted(client: Client, args: argparse.Namespace, task_id: int) -> int:
    """Ctrl-C while `render` waits: the task renders on (or stops, if asked); say what next."""
    flags = _farm_flags(args)
    out = shlex.quote(str(args.out))
    if args.stop_on_interrupt:
        task = client.stop(task_id)
        print(
            f"\ninterrupted: task {task_id} is {task.status}; resume it with "
            f"'foxden resume {task_id}{flags}'",
            file=sys.stderr,
        )
        return 130
    print(
        f"\ninterrupted: task {task_id} goes on rendering on the farm.\n"
        f"  stop it:               foxden stop {task_id}{flags}\n"
        f"  download its frames:   foxden download {task_id} --out {out}{flags}\n"
        f"  see how far it got:    foxden frames {task_id}{flags}",
        file=sys.stderr,
    )
    return 130


def _explain_failure(task: Task, folder: Path, flags: str) -> None:
    """What failed in a finished task, and where the frames that did render went."""
    bad = [f for f in client_frames(task) if f.status != "done"]
    total = task.frame_count
    print(
        f"task {task.id} {task.status}: {len(bad)} of {total} frame(s) did not render",
        file=sys.stderr,
    )
    for f in bad[:5]:
        reason = f.error.strip().splitlines()[0] if f.error.strip() else "no reason recorded"
        print(f"  frame {f.number} {frame_word(f.status)}: {reason}", file=sys.stderr)
    if len(bad) > 5:
        print(f"  ... and {len(bad) - 5} more: foxden frames {task.id}{flags}", file=sys.stderr)
    if bad:
        print(f"  a frame's log: foxden log {task.id} {bad[0].number}{flags}", file=sys.stderr)
    rendered = total - len(bad)
    if rendered and folder.is_dir() and any(folder.iterdir()):
        print(f"the {rendered} frame(s) that rendered are in {folder}", file=sys.stderr)
    elif rendered:
        print(f"{rendered} frame(s) rendered but left no file to download", file=sys.stderr)
    else:
        print("no frame rendered, so nothing was downloaded", file=sys.stderr)


def client_frames(task: Any) -> list[Any]:
    """The frames of a task fetched with its frames (empty otherwise)."""
    return list(task.frames_detail or [])
