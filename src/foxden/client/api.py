"""`Client`: the typed client of foxden's JSON API (`/api/...`).

    with Client("http://farm:8642", access_key) as farm:
        farm.upload(["/proj/shot"])
        task = farm.submit("myproject", "/proj/shot/shot.blend", "1-10")
        farm.download(task.id, "renders", follow=True)  # each frame as it is done

Errors come back as the `foxden.errors` family; every call goes through one `RetryPolicy`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic_core import from_json

from foxden.client.hashcache import HashCache
from foxden.client.records import (
    Account,
    OutputFile,
    Project,
    Software,
    Task,
    TaskPage,
)
from foxden.client.settings import server_url
from foxden.client.transfer import (
    FOLLOW_POLL,
    ChunkHook,
    Downloader,
    TransferStats,
    Uploader,
)
from foxden.core.states import TaskStatus
from foxden.errors import (
    BadRequest,
    Conflict,
    NotFound,
    ServerUnavailable,
    Unauthorized,
    WaitTimeout,
)
from foxden.paths import is_client_absolute
from foxden.replies import error_from
from foxden.retry import RetryableStatus, RetryPolicy, retry_status
from foxden.tls import Verify, ssl_verify, untrusted_certificate, untrusted_error
from foxden.version import __version__

T = TypeVar("T")

#: bytes a chunk of a big file's upload carries: each request costs the farm ~1.5 ms of CPU and a
#: chunk streams from the file (no memory held), so 32 MiB sends a GiB in 32 requests, not 128;
#: a chunk the network cuts off is sent again whole, and the server takes a chunk up to its
#: `max_blob_bytes` (4 GiB by default)
CHUNK_SIZE = 32 << 20

#: tasks a page of `Client.iter_tasks` asks for: the most the server gives in one page
LIST_PAGE_SIZE = 1000


def local_path(path: str | os.PathLike[str]) -> str:
    """The path a local file has on the farm's side: its absolute path on this machine.

    Paths that are absolute on some client OS (`v:\\x`, `\\\\srv\\x`, `/x`) are kept as they are;
    relative ones are made absolute here. The server mirrors them (`v:\\a\\b` -> `/v/a/b`).
    """
    text = os.fspath(path)
    if is_client_absolute(text):
        return text
    return os.path.abspath(os.path.expanduser(text))


def check_scene_path(path: str) -> bool | None:
    """Whether a scene's path (as `local_path` gives it) is a file on this machine: True, False
    when nothing is there, None when it is another system's path (`v:\\x` on Linux). A folder
    raises BadRequest, naming the scenes inside it."""
    if not os.path.isabs(path):
        return None
    if os.path.isdir(path):
        inside = sorted(p.name for p in Path(path).glob("*.blend"))[:5]
        hint = f" ({', '.join(inside)} in it)" if inside else ""
        raise BadRequest(f"{path} is a folder, not a scene file: name the scene file{hint}")
    return os.path.isfile(path)


class Client:
    """A session with one farm, authenticated by an access key.

    `verify`: True (the system's trusted authorities; the default), a CA bundle or the farm's
    own certificate (a path: `foxden up --tls` prints it), or False (no check). A certificate
    that fails the check raises `UntrustedCertificate`, saying so.
    """

    def __init__(
        self,
        server: str,
        access_key: str,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        workers: int = 8,
        chunk_size: int = CHUNK_SIZE,
        progress: bool | None = None,
        cache: HashCache | None = None,
        transport: httpx.BaseTransport | None = None,
        verify: Verify | None = None,
    ) -> None:
        if not access_key:
            raise Unauthorized("no access key given: pass the key the farm issued for your account")
        self.base_url = server_url(server)
        tls = ssl_verify(verify)  # a CA file given is checked either way
        self.retry = retry or RetryPolicy()
        self.workers = max(1, workers)
        self.chunk_size = chunk_size
        self.progress = progress
        self._cache = cache
        self.http = httpx.Client(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {access_key}",
                "User-Agent": f"foxden-client/{__version__}",
            },
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=self.workers + 4, max_keepalive_connections=self.workers + 4
            ),
            transport=transport,
            # a plain-HTTP farm never speaks TLS (redirects are not followed): loading the CA
            # bundle for it would only slow every command's start
            verify=tls if self.base_url.startswith("https:") else False,
        )

    # ---- plumbing ------------------------------------------------------------------------

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections and flush the hash cache."""
        self.http.close()
        if self._cache is not None:
            self._cache.flush()

    @property
    def cache(self) -> HashCache:
        """The quick-check hash cache (opened on first use)."""
        if self._cache is None:
            self._cache = HashCache()
        return self._cache

    def send(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool | None = None,
        ok: Iterable[int] = (),
        stream: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """One HTTP call under the retry policy; error replies raise foxden errors. `stream`:
        the reply's body is left unread (read it, or close the reply)."""
        if idempotent is None:
            idempotent = method.upper() in ("GET", "HEAD", "PUT", "DELETE")
        accepted = set(ok)

        def attempt() -> httpx.Response:
            if stream:
                request = self.http.build_request(method, path, **kwargs)
                response = self.http.send(request, stream=True)
            else:
                response = self.http.request(method, path, **kwargs)
            if retry_status(response.status_code):
                response.read()
                raise RetryableStatus(response)
            return response

        try:
            response = self.retry.call(attempt, idempotent=idempotent)
        except RetryableStatus as exc:
            response = exc.response
        except httpx.TransportError as exc:
            if reason := untrusted_certificate(exc):
                raise untrusted_error(self.base_url, reason) from None
            raise ServerUnavailable(
                f"cannot reach the farm at {self.base_url} ({type(exc).__name__}: {exc}): "
                "check the address and that the server is running"
            ) from None
        if response.status_code >= 400 and response.status_code not in accepted:
            response.read()
            raise error_from(response)
        return response

    def request(
        self, method: str, path: str, *, idempotent: bool | None = None, **kwargs: Any
    ) -> Any:
        """One JSON call; returns the decoded reply (None for an empty one)."""
        response = self.send(method, path, idempotent=idempotent, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # ---- accounts ------------------------------------------------------------------------

    def login(self) -> Account:
        """Check the access key (raises Unauthorized) and record the login."""
        return Account.from_json(self.request("POST", "/api/login", idempotent=True))

    def me(self) -> Account:
        """The account this client acts for."""
        return Account.from_json(self.request("GET", "/api/me"))

    def rotate_key(self) -> str:
        """A new access key for this account (shown once); the old one stops working at once.

        This client switches to the new key; store it where you keep the old one.
        """
        key = str(self.request("POST", "/api/me/key", idempotent=False)["access_key"])
        self.http.headers["Authorization"] = f"Bearer {key}"
        return key

    def software(self) -> list[Software]:
        """Software the farm's workers can run now (choices for plugin configs)."""
        return [Software.from_json(s) for s in self.request("GET", "/api/software")]

    # ---- projects ------------------------------------------------------------------------

    def projects(self) -> list[Project]:
        """Your projects."""
        return [Project.from_json(p) for p in self.request("GET", "/api/projects")]

    def project(self, name: str) -> Project:
        """One project by name (NotFound if there is none)."""
        return Project.from_json(self.request("GET", f"/api/projects/{_seg(name)}"))

    def create_project(
        self,
        name: str,
        software: str | None = None,
        plugins: str = "",
        *,
        path: str = "",
        remark: str = "",
        render_os: str = "linux",
    ) -> Project:
        """Create a project, with a default plugin config when `software` ('blender 3.4') is given."""
        configs = (
            [{"cg_soft_name": software, "plugin_name": plugins, "is_default": True}]
            if software
            else []
        )
        return Project.from_json(
            self.request(
                "POST",
                "/api/projects",
                json={
                    "project_name": name,
                    "project_path": path,
                    "remark": remark,
                    "render_os": render_os,
                    "plugins": configs,
                },
            )
        )

    def set_time_limits(
        self,
        project: str,
        frame_timeout_s: int | None = None,
        progress_timeout_s: int | None = None,
    ) -> Project:
        """Set the default time limits of a project's tasks, in seconds (None or 0: none; both
        are set): how long one frame may render, how long a renderer may go without progress
        or a log line. A task's own limits (submit's `frame_timeout_s`, `progress_timeout_s`)
        come first."""
        return Project.from_json(
            self.request(
                "PUT",
                f"/api/projects/{_seg(project)}/time-limits",
                json={
                    "frame_timeout_s": frame_timeout_s,
                    "progress_timeout_s": progress_timeout_s,
                },
            )
        )

    def delete_project(self, name: str) -> None:
        """Delete a project and its plugin configs."""
        self.request("DELETE", f"/api/projects/{_seg(name)}")

    def add_config(
        self, project: str, cg_soft_name: str, plugin_name: str = "", *, is_default: bool = False
    ) -> Project:
        """Add a plugin config to a project."""
        return Project.from_json(
            self.request(
                "POST",
                f"/api/projects/{_seg(project)}/configs",
                json={
                    "cg_soft_name": cg_soft_name,
                    "plugin_name": plugin_name,
                    "is_default": is_default,
                },
            )
        )

    def modify_config(
        self,
        project: str,
        config_id: int,
        *,
        cg_soft_name: str | None = None,
        plugin_name: str | None = None,
        is_default: bool | None = None,
    ) -> Project:
        """Change a plugin config's software or plugins, or make it the default."""
        body = {
            k: v
            for k, v in (
                ("cg_soft_name", cg_soft_name),
                ("plugin_name", plugin_name),
                ("is_default", is_default),
            )
            if v is not None
        }
        return Project.from_json(
            self.request(
                "PATCH", f"/api/projects/{_seg(project)}/configs/{int(config_id)}", json=body
            )
        )

    def delete_config(self, project: str, config_id: int) -> Project:
        """Remove a plugin config from a project."""
        return Project.from_json(
            self.request("DELETE", f"/api/projects/{_seg(project)}/configs/{int(config_id)}")
        )

    # ---- tasks ---------------------------------------------------------------------------

    def submit(
        self,
        project_name: str,
        scene: str | os.PathLike[str],
        frames: str,
        *,
        render_layer: str = "",
        camera: str = "",
        strict: bool = False,
        movie: bool | str = False,
        **extra: Any,
    ) -> Task:
        """Submit a task for an uploaded scene (given by its local path); extra keys are options.

        `movie` (True or "h264", or "prores") also makes a movie of the frames once they are
        done: a follow-up task named in the returned task's `options["movie"]["task_id"]`,
        whose movie becomes an output of this task too (see `make_movie`).

        The farm checks the scene first: a camera or view layer it lacks, or a file that is not
        a scene of the project's software, raises BadRequest naming the choices (no task is
        made). What it only warns about (frames outside the scene's range, files the scene
        uses that were never uploaded) is in the returned task's `warnings`; `strict` makes
        the missing files a BadRequest instead. A scene path that is a folder on this machine
        is refused here; one that is on neither this machine nor the farm raises NotFound.
        """
        path = local_path(scene)
        here = check_scene_path(path)
        body = {
            "project_name": project_name,
            "input_scene_path": path,
            "frames": str(frames),
            "render_layer": render_layer or "",
            "camera": camera or "",
            **extra,
        }
        if strict:
            body["strict"] = True
        if movie:
            body["movie"] = movie
        try:
            reply = self.request("POST", "/api/tasks", json=body, idempotent=False)
        except BadRequest as exc:
            if here is False and "was never uploaded" in exc.message:
                raise NotFound(
                    f"{path}: no such file on this machine, and none was uploaded to the farm "
                    "at that path: check the scene's path"
                ) from None
            raise
        return Task.from_json(reply)

    def tasks(
        self, *, page_size: int = 100, page_no: int = 1, with_frames: bool = False, **filters: Any
    ) -> TaskPage:
        """One page of your tasks, filtered by the vendor's keys (project_name, task_status, ...)."""
        reply = self._task_page(page_size, page_no, with_frames, filters)
        return TaskPage.model_validate_json(reply)  # read and checked in one pass

    def task_json_page(
        self, *, page_size: int = 100, page_no: int = 1, with_frames: bool = False, **filters: Any
    ) -> dict[str, Any]:
        """`tasks` as the server's JSON gave it, decoded but not read into models: for a caller
        that reshapes the records at once (`Fox.get_tasks`)."""
        page: dict[str, Any] = from_json(self._task_page(page_size, page_no, with_frames, filters))
        return page

    def _task_page(
        self, page_size: int, page_no: int, with_frames: bool, filters: dict[str, Any]
    ) -> bytes:
        params = {k: v for k, v in filters.items() if v not in (None, "")}
        params.update(page_size=page_size, page_no=page_no, with_frames=str(with_frames).lower())
        return self.send("GET", "/api/tasks", params=params).content

    def iter_tasks(self, *, with_frames: bool = False, **filters: Any) -> Iterator[Task]:
        """Every task matching the filters, once each, in the listing's order (`iter_task_json`,
        each record read into a `Task`)."""
        for item in self.iter_task_json(with_frames=with_frames, **filters):
            yield Task.from_json(item)

    def iter_task_json(
        self, *, with_frames: bool = False, **filters: Any
    ) -> Iterator[dict[str, Any]]:
        """Every task matching the filters as the server's JSON gave it, once each, in the
        listing's order: one streamed reply (`GET /api/tasks/all`), decoded a line of up to
        1,000 records at a time while the farm sends the next. A reply cut short raises
        `ServerUnavailable` (what came before it was given). A farm older than that route is
        read a page at a time (`_paged_task_json`)."""
        params = {k: v for k, v in filters.items() if v not in (None, "")}
        params["with_frames"] = str(with_frames).lower()
        response = self.send("GET", "/api/tasks/all", params=params, ok=(404, 422), stream=True)
        try:
            if response.status_code in (404, 422):  # /api/tasks/{task_id} of an older farm
                response.close()
                yield from self._paged_task_json(with_frames, filters)
                return
            yield from _task_lines(response)
        finally:
            response.close()

    def _paged_task_json(
        self, with_frames: bool, filters: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        """Pages of `LIST_PAGE_SIZE`, the next one asked for while the caller reads this one;
        a task the pages meet twice (one submitted meanwhile moves the others down a page) is
        given once."""

        def page(number: int) -> tuple[int, int, list[dict[str, Any]]]:
            got = self.task_json_page(
                page_size=LIST_PAGE_SIZE, page_no=number, with_frames=with_frames, **filters
            )
            return int(got["total"]), int(got["page_size"]), list(got["items"])

        seen: set[int] = set()
        for task in _pages(page):
            if task["id"] not in seen:
                seen.add(task["id"])
                yield task

    def task(self, task_id: int, *, frames: bool = False) -> Task:
        """One task, with its frames when asked."""
        return Task.from_json(
            self.request(
                "GET", f"/api/tasks/{int(task_id)}", params={"frames": str(frames).lower()}
            )
        )

    def stop(self, task_id: int) -> Task:
        """Stop a queued or rendering task."""
        return Task.from_json(
            self.request("POST", f"/api/tasks/{int(task_id)}/stop", idempotent=True)
        )

    def resume(self, task_id: int) -> Task:
        """Resume a stopped task."""
        return Task.from_json(
            self.request("POST", f"/api/tasks/{int(task_id)}/resume", idempotent=True)
        )

    def restart(
        self, task_id: int, kind: str = "failed", frames: str | list[int] | None = None
    ) -> Task:
        """Restart frames by kind (failed, aborted, done, running, waiting, stopped, all) or by number."""
        body: dict[str, Any] = {"restart": kind}
        if frames is not None:
            body["frames"] = frames
        return Task.from_json(
            self.request("POST", f"/api/tasks/{int(task_id)}/restart", json=body, idempotent=True)
        )

    def abort(self, task_id: int) -> Task:
        """Abort a task for good."""
        return Task.from_json(
            self.request("POST", f"/api/tasks/{int(task_id)}/abort", idempotent=True)
        )

    def make_movie(self, task_id: int, codec: str = "h264", *, fps: float | None = None) -> Task:
        """Make a movie of a task's frames ("h264": an MP4, "prores": a .mov), at the scene's
        frame rate unless `fps` is given; returns the movie task (job type `ffmpeg`). It waits
        for a task still rendering; when it is done, the movie is among the task's outputs
        (`outputs`, `download`) as well as the movie task's. Conflict when the task is finished
        with no frame rendered."""
        body: dict[str, Any] = {"codec": codec}
        if fps is not None:
            body["fps"] = fps
        return Task.from_json(
            self.request("POST", f"/api/tasks/{int(task_id)}/movie", json=body, idempotent=False)
        )

    def delete(self, task_id: int) -> None:
        """Delete a task that is not queued or rendering."""
        self.request("DELETE", f"/api/tasks/{int(task_id)}")

    def frame_log(self, task_id: int, number: int, *, attempt: int | None = None) -> str:
        """The render log of one frame: every attempt, or only `attempt`."""
        params = {} if attempt is None else {"attempt": int(attempt)}
        return self.send(
            "GET", f"/api/tasks/{int(task_id)}/frames/{int(number)}/log", params=params
        ).text

    def outputs(self, task_id: int) -> list[OutputFile]:
        """The task's output manifest."""
        return [
            OutputFile.from_json(o)
            for o in self.request("GET", f"/api/tasks/{int(task_id)}/outputs")
        ]

    def wait(
        self,
        task_id: int,
        *,
        poll: float = 1.0,
        timeout: float | None = None,
        on_progress: Callable[[Task], None] | None = None,
        frames: bool = False,
    ) -> Task:
        """Poll a task until it is finished (done, failed or aborted); returns it.

        `on_progress` sees the task at each poll; `frames` fetches the finished task with its
        frames. A stopped task raises Conflict (it would never finish), one still going after
        `timeout` seconds WaitTimeout (it renders on).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            task = self.task(task_id)
            if on_progress is not None:
                on_progress(task)
            if task.finished:
                return self.task(task_id, frames=True) if frames else task
            if task.status == TaskStatus.STOPPED:
                raise Conflict(
                    f"task {task_id} was stopped: resume it (or restart its frames) to finish it"
                )
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left < 0:
                raise WaitTimeout(
                    f"task {task_id} did not finish within {timeout:g} s (it is {task.status})"
                )
            time.sleep(poll if left is None else min(poll, left))

    # ---- transfers -----------------------------------------------------------------------

    def upload(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        force: bool = False,
        chunk_hook: ChunkHook | None = None,
        follow_links: bool = False,
    ) -> TransferStats:
        """Upload files and folders (what the farm has unchanged is skipped); returns the stats.

        `force` re-reads every file and sends its content even when the farm has it. A folder's
        symbolic links that point outside it are left out, each named in `stats.warnings`,
        unless `follow_links`. A name with bidirectional-control characters stops the upload
        (BadRequest) before anything is sent.
        """
        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        uploader = Uploader(self, force=force, chunk_hook=chunk_hook, follow_links=follow_links)
        return uploader.run([os.fspath(p) for p in paths])

    def download(
        self,
        task_id: int,
        dest: str | os.PathLike[str],
        *,
        force: bool = False,
        under: str = "",
        flatten: bool = False,
        follow: bool = False,
        poll: float = FOLLOW_POLL,
        on_progress: Callable[[Task, TransferStats], None] | None = None,
    ) -> TransferStats:
        """Download a task's outputs under `dest/<output folder>/`; returns the stats.

        `force` fetches every file again, even those present and identical. `under` takes only
        the outputs in that folder (`"12_shot"`, `"12_shot/layer"`); `flatten` puts them
        directly in `dest` (at their path inside `under`).

        `follow` fetches each frame's outputs as soon as the frame is done, polling the task
        every `poll` seconds until it is settled: done, failed, aborted, or stopped (a stopped
        task is not waited for: resume it and follow again for the rest); `stats.task_status`
        says which. `on_progress` sees the task and the stats after each poll. Ctrl-C
        (KeyboardInterrupt) ends it; a file cut short is continued by the next download.
        """
        downloader = Downloader(self, force=force)
        if follow:
            return downloader.follow(
                int(task_id),
                Path(dest),
                under=under,
                flatten=flatten,
                poll=poll,
                on_progress=on_progress,
            )
        return downloader.run(int(task_id), Path(dest), under=under, flatten=flatten)


def _seg(name: str) -> str:
    """A name as one URL path segment."""
    from urllib.parse import quote

    return quote(name, safe="")


def _task_lines(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The records of `GET /api/tasks/all`'s lines as they arrive; ServerUnavailable when the
    reply ends (or breaks) before its `end` line."""
    sent = 0
    head: list[bytes] = []  # the line so far, in the pieces it came in
    try:
        for chunk in response.iter_bytes():
            if b"\n" not in chunk:
                head.append(chunk)
                continue
            *ends, tail = chunk.split(b"\n")
            lines = [b"".join([*head, ends[0]]), *ends[1:]]
            head = [tail]
            for line in lines:
                if not line:
                    continue
                got = from_json(line)
                if "end" in got:
                    if int(got["end"]) != sent:
                        raise ServerUnavailable(
                            f"the farm's task list says it sent {got['end']} tasks, "
                            f"{sent} came: list again"
                        )
                    return
                sent += len(got["tasks"])
                yield from got["tasks"]
    except httpx.TransportError as exc:
        raise ServerUnavailable(
            f"the farm's task list broke off after {sent} tasks ({type(exc).__name__}): list again"
        ) from None
    raise ServerUnavailable(
        f"the farm's task list ended after {sent} tasks, before its end mark: list again"
    )


def _pages(read: Callable[[int], tuple[int, int, list[T]]]) -> Iterator[T]:
    """The items of pages 1, 2, ... as `read(number)` gives them (total, page size, items),
    until the total is reached or a page is empty; the next page is read in a thread while the
    caller reads this one."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="foxden-pages") as ahead:
        total, size, items = read(1)
        number = 1
        while True:
            last = number * size >= total or not items
            following = None if last else ahead.submit(read, number + 1)
            yield from items
            if following is None:
                return
            (total, size, items), number = following.result(), number + 1
