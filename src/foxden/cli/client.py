"""Commands for people using a farm: login, upload, submit, tasks, frames, download, projects, render.

The farm and key come from `foxden login` (a 0600 file in the user's config folder), overridden by
FOXDEN_SERVER / FOXDEN_ACCOUNT / FOXDEN_ACCESS_KEY, or from `--farm-dir DIR` (the
`DIR/credentials.json` that `foxden up --data-dir DIR` writes).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foxden.errors import BadRequest, Conflict, NotFound, Unauthorized, WaitTimeout

if TYPE_CHECKING:
    from foxden.client.api import Client
    from foxden.client.records import Project, Task

DEFAULT_PROJECT = "default"


def register(sub: Any) -> None:
    """Add the client commands."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise here
    farm = argparse.ArgumentParser(add_help=False)
    farm.add_argument(
        "--farm-dir", type=Path, help="use DIR/credentials.json written by 'foxden up'"
    )
    farm.add_argument(
        "--ca-cert",
        type=Path,
        help="trust this CA bundle or farm certificate for HTTPS (env FOXDEN_CA_CERT)",
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON (for scripts)")

    p = sub.add_parser("login", help="check and store the farm address, account and access key")
    p.add_argument("--server", required=True, help="URL, host:port, or host (port 8642)")
    p.add_argument("--account", required=True)
    p.add_argument("--key", required=True, help="the account's access key")
    p.add_argument(
        "--ca-cert",
        type=Path,
        help="the farm's certificate (or CA bundle) to trust over HTTPS; stored with the login",
    )
    p.set_defaults(func=_login)

    p = sub.add_parser("upload", parents=[farm, as_json], help="upload files and folders")
    p.add_argument("paths", nargs="+", metavar="PATH")
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
    p.add_argument("--project", required=True)
    p.set_defaults(func=_submit)

    p = sub.add_parser("tasks", parents=[farm, as_json], help="list your tasks")
    p.add_argument("--project")
    p.add_argument(
        "--status", help="queued, rendering, done, failed, ... or Start, System_Done, ..."
    )
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=_tasks)

    p = sub.add_parser("frames", parents=[farm, as_json], help="the frames of a task")
    p.add_argument("task_id", type=int, metavar="TASK_ID")
    p.set_defaults(func=_frames)

    p = sub.add_parser("download", parents=[farm, as_json], help="download a task's outputs")
    p.add_argument("task_id", type=int, metavar="TASK_ID")
    p.add_argument(
        "--out", type=Path, default=Path("."), help="folder to download into (default .)"
    )
    p.add_argument("--force", action="store_true", help="fetch everything again")
    p.set_defaults(func=_download)

    p = sub.add_parser("projects", parents=[farm, as_json], help="list projects (or create one)")
    p.set_defaults(func=_projects)
    actions = p.add_subparsers(dest="projects_action", metavar="ACTION")
    c = actions.add_parser("create", parents=[farm, as_json], help="create a project")
    c.add_argument("name")
    c.add_argument("--software", help="default plugin config, e.g. 'blender 3.4'")
    c.add_argument("--plugins", default="", help="comma-separated plugins")
    c.set_defaults(func=_project_create)

    p = sub.add_parser(
        "render",
        parents=[farm],
        help="upload a scene's folder, render it, wait, download the frames",
    )
    p.add_argument("scene", type=Path, metavar="SCENE")
    _task_options(p)
    p.add_argument(
        "--project",
        help=f"project to use (default: '{DEFAULT_PROJECT}', created with the farm's blender)",
    )
    p.add_argument(
        "--out", type=Path, default=Path("renders"), help="where the frames go (default ./renders)"
    )
    p.add_argument("--timeout", type=float, help="give up after this many seconds")
    p.set_defaults(func=_render)


def _task_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frames", required=True, help="frame spec: 1-10[1], 1,2,3, 1,20-30[2]")
    p.add_argument("--layer", default="", help="render layer (view layer)")
    p.add_argument("--camera", default="")
    p.add_argument("--artist", default="")
    p.add_argument("--priority", type=int, default=0)
    p.add_argument("--chunk-size", type=int, help="frames per worker claim")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra task option (VALUE may be JSON)",
    )


def _extra(args: argparse.Namespace) -> dict[str, Any]:
    extra: dict[str, Any] = {"artist": args.artist, "priority": args.priority}
    if args.chunk_size:
        extra["chunk_size"] = args.chunk_size
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BadRequest(f"--option {item!r}: write KEY=VALUE")
        try:
            extra[key] = json.loads(value)
        except ValueError:
            extra[key] = value
    return extra


def _client(args: argparse.Namespace) -> Client:
    from foxden.client.api import Client
    from foxden.client.settings import load_login, read_credentials

    farm_dir = getattr(args, "farm_dir", None)
    login = read_credentials(farm_dir / "credentials.json") if farm_dir else load_login()
    ca_cert = getattr(args, "ca_cert", None)
    return Client(login.server, login.access_key, verify=ca_cert or login.verify())


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
        me = client.login()
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
        )
    if args.json:
        _print_json(task.raw)
    else:
        print(task.id)
        for warning in task.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return 0


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
            t.status,
            t.frames,
            f"{t.counts.get('done', 0)}/{t.frame_count}",
            t.cg_soft_name,
            t.scene_path,
            _when(t.submit_time),
        )
        for t in page.items
    ]
    _table(("ID", "PROJECT", "STATUS", "FRAMES", "DONE", "SOFTWARE", "SCENE", "SUBMITTED"), rows)
    if page.total > len(page.items):
        print(f"({len(page.items)} of {page.total}; --limit for more)")
    return 0


def _frames(args: argparse.Namespace) -> int:
    with _client(args) as client:
        task = client.task(args.task_id, frames=True)
    frames = task.frames_detail or []
    if args.json:
        _print_json(task.raw.get("frames_detail", []))
        return 0
    rows = [
        (
            str(f.number),
            f.status,
            str(f.attempts),
            f"{f.render_time:.1f}s" if f.render_time else "-",
            ", ".join(o.path.rsplit("/", 1)[-1] for o in f.outputs) or "-",
            f.error.splitlines()[0] if f.error else "",
        )
        for f in frames
    ]
    _table(("FRAME", "STATUS", "TRIES", "TIME", "OUTPUTS", "ERROR"), rows)
    return 0


def _download(args: argparse.Namespace) -> int:
    with _client(args) as client:
        stats = client.download(args.task_id, args.out, force=args.force)
        folder = client.task(args.task_id).output_folder
    if args.json:
        _print_json(stats.as_dict())
    else:
        print(_stats_line("downloaded", stats))
        print(f"frames in {args.out / folder}")
    return 0


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
                f"{c.cg_soft_name}{' [' + c.plugin_name + ']' if c.plugin_name else ''}"
                f"{' (default)' if c.is_default and len(p.plugins) > 1 else ''}"
                for c in p.plugins
            )
            or "(no plugin config)",
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


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    lines: list[Sequence[object]] = [header, *rows]
    widths = [max(len(str(r[i])) for r in lines) for i in range(len(header))]
    for row in lines:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def default_project(client: Any, name: str | None) -> str:
    """The project `render` uses: the one named, or 'default' made with the farm's Blender."""
    if name:
        return name
    try:
        client.project(DEFAULT_PROJECT)
        return DEFAULT_PROJECT
    except NotFound:
        pass
    blenders = [s.cg_soft_name for s in client.software() if s.cg_soft_name.startswith("blender")]
    if not blenders:
        raise BadRequest(
            "no worker of this farm offers Blender: start one (foxden up --workers 1) "
            "or name a project with --project"
        )
    client.create_project(DEFAULT_PROJECT, sorted(blenders)[-1])
    return DEFAULT_PROJECT


def _render(args: argparse.Namespace) -> int:
    scene = args.scene.expanduser().resolve()
    if not scene.is_file():
        raise NotFound(f"{args.scene}: no such scene file")
    with _client(args) as client:
        project = default_project(client, args.project)
        up = client.upload([scene.parent])
        for warning in up.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(_stats_line("uploaded", up), file=sys.stderr)
        task = client.submit(
            project, scene, args.frames, render_layer=args.layer, camera=args.camera, **_extra(args)
        )
        print(
            f"task {task.id}: {task.frame_count} frame(s) of {scene.name} on project {project}",
            file=sys.stderr,
        )
        for warning in task.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        final = _watch(client, task.id, task.frame_count, args.timeout)
        down = client.download(task.id, args.out)
        print(_stats_line("downloaded", down), file=sys.stderr)
    folder = args.out / final.output_folder
    if final.status != "done":
        failed = [f for f in client_frames(final) if f.status != "done"]
        for f in failed[:10]:
            print(
                f"frame {f.number}: {f.status} {f.error.splitlines()[0] if f.error else ''}",
                file=sys.stderr,
            )
        print(
            f"task {task.id} ended {final.status}; the frames that rendered are in {folder}",
            file=sys.stderr,
        )
        return 1
    print(f"{final.frame_count} frame(s) in {folder}")
    return 0


def client_frames(task: Any) -> list[Any]:
    """The frames of a task fetched with its frames (empty otherwise)."""
    return list(task.frames_detail or [])


def _watch(client: Client, task_id: int, total: int, timeout: float | None) -> Task:
    """Wait for the task to finish (returned with its frames), with a progress bar on a terminal."""
    if sys.stderr.isatty():
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
        ) as bar:
            tid = bar.add_task(f"task {task_id}", total=total)

            def show(t: Any) -> None:
                running = t.counts.get("running", 0)
                bar.update(
                    tid,
                    completed=t.counts.get("done", 0),
                    description=f"task {task_id} {t.status} ({running} rendering)",
                )

            return _wait(client, task_id, timeout, show)
    last: list[str] = []

    def report(t: Any) -> None:
        line = f"task {task_id}: {t.status}, {t.counts.get('done', 0)}/{t.frame_count} done"
        if not last or last[-1] != line:
            last.append(line)
            print(line, file=sys.stderr, flush=True)

    return _wait(client, task_id, timeout, report)


def _wait(
    client: Client, task_id: int, timeout: float | None, show: Callable[[Task], None]
) -> Task:
    """`Client.wait`, its errors saying how to get the frames later."""
    try:
        return client.wait(task_id, timeout=timeout, on_progress=show, frames=True)
    except (Conflict, WaitTimeout) as exc:
        raise type(exc)(
            f"{exc.message}; its frames: 'foxden download {task_id}' once it finishes"
        ) from None
