"""`foxden-transmit`: the transmitter program of the vendor's SDK (rayvision_sync), over foxden's
own HTTP transfers.

The SDK moves bytes by running a transmitter through a shell, one transfer a run:

    echo y|"<exe>" -E aspera -H <server> -P <port> -S <storage id> -U <user id> -T <type>
                   -L <local> -R <remote> -r 2 -K <true|false> -s <KB/s> -C <db ini> -p <n>

and reads its exit status: 0 done, 9 bad arguments or farm unreachable (the SDK gives up),
10 try again (the SDK retries), 11 some files could not be uploaded (missing here). Types:

* `upload_json`: `-L` is an upload.json ({"asset": [{"local", "server"}, ...]}); every local file
  or folder goes to the account's tree at its mirrored path (`foxden.paths.mirror`, the rule of
  every foxden upload; the entry's `server` is not used). Missing ones are named, the rest
  uploaded, and the run ends with 11.
* `upload_path`: `-L` is one file, `-R` is `/<task id>/cfg/<name>`: it becomes the task's config
  file `<name>` (`PUT /api/tasks/{task id}/configs/{name}`).
* `download_path`: `-R` is a task's output folder (`<task id>_<scene>`, or a folder inside it);
  its outputs land in `-L` (`-K true`: in `<local>/<output folder>/...`, `-K false`: directly in
  `<local>`). Files present and identical are not fetched again.

The farm and the access key come from `foxden login` (or FOXDEN_SERVER, FOXDEN_ACCOUNT,
FOXDEN_ACCESS_KEY, FOXDEN_CA_CERT), as for the `foxden` command; `-H`/`-P` (from the SDK's
getConfig) name the farm: a `-H` holding `://` is its base URL, else `http://H:P`. It must be
the login's farm (the key is sent nowhere else); when the login names no farm, it is the farm.
`-U` and `-S` must be the id and a storage id of the account the key belongs to.

The SDK runs `chmod 777 -R <the transmitter's folder>/*` before each transfer: give it the
wrapper `foxden-transmit --install DIR` writes (DIR is made private, 0700), never a file in a
shared folder such as a virtual environment's `bin`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shlex
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import quote, urlsplit

import httpx

from foxden.errors import (
    BadRequest,
    Forbidden,
    FoxdenError,
    NotFound,
    TooManyRequests,
    TransferError,
    Unauthorized,
    UntrustedCertificate,
)
from foxden.retry import Retryable

if TYPE_CHECKING:
    from foxden.client.api import Client

OK = 0
BAD_ARGUMENTS = 9  # bad arguments, refused credentials, farm unreachable: the SDK gives up
RETRY = 10  # a transient failure: the SDK runs the transfer again
MISSING_FILES = 11  # some local files do not exist; the others were uploaded

TYPES = ("upload_json", "upload_path", "download_path")
STORAGE_OF_TYPE = {"upload_json": "input", "upload_path": "config", "download_path": "output"}
WRAPPER_NAME = "foxden-transmit"
_CONFIG_REMOTE = re.compile(r"^/*(\d+)/+cfg/+([^/\\]+)$")
_TASK_FOLDER = re.compile(r"^(\d+)_")
_STORAGE = re.compile(r"^(config|input|output)-(\d+)$")


class Refused(Exception):
    """A run that must end with `code` after saying `message` (one sentence)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise Refused(BAD_ARGUMENTS, f"bad arguments: {message} (see foxden-transmit --help)")


def parser() -> argparse.ArgumentParser:
    """The command line the SDK writes (and `--install DIR`)."""
    p = _Parser(
        prog="foxden-transmit",
        description="The vendor SDK's transmitter, over foxden's HTTP transfers "
        "(give `--install DIR`'s wrapper to the SDK as transmitter_exe).",
    )
    p.add_argument("--install", metavar="DIR", help="write the wrapper DIR/foxden-transmit")
    p.add_argument("-E", dest="engine", default="aspera", help="engine (ignored)")
    p.add_argument("-H", dest="host", default="", help="farm host, or its base URL")
    p.add_argument("-P", dest="port", default="", help="farm port (when -H is a host)")
    p.add_argument("-S", dest="storage", default="", help="storage id: input-/config-/output-ID")
    p.add_argument("-U", dest="user", default="", help="account id")
    p.add_argument("-T", dest="type", default="", help=f"transfer type: {', '.join(TYPES)}")
    p.add_argument("-L", dest="local", default="", help="local file, folder or upload.json")
    p.add_argument("-R", dest="remote", default="", help="remote path")
    p.add_argument("-K", dest="keep", default="true", help="download: keep the output folder")
    for flag, name in (("-r", "retries"), ("-s", "speed"), ("-C", "db_ini"), ("-p", "network")):
        p.add_argument(flag, dest=name, default="", help="(ignored)")
    return p


@dataclass(frozen=True)
class Request:
    """One transfer the SDK asked for."""

    type: str
    server: str
    account_id: int
    storage: str
    local: str
    remote: str
    keep: bool


def farm_url(host: str, port: str) -> str:
    """The farm's base URL from -H/-P ('' when -H is not given)."""
    host = host.strip()
    if not host:
        return ""
    if "://" in host:
        return host.rstrip("/")
    port = port.strip()
    if port and port.lower() != "none":
        if not port.isdigit():
            raise Refused(BAD_ARGUMENTS, f"bad arguments: port {port!r} is not a number")
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return f"http://{host}:{port}"
    return host


def request_of(args: argparse.Namespace) -> Request:
    """Check the arguments of a transfer."""
    if args.type not in TYPES:
        raise Refused(
            BAD_ARGUMENTS,
            f"bad arguments: -T {args.type!r} is not a transfer type ({', '.join(TYPES)})",
        )
    if not args.local:
        raise Refused(BAD_ARGUMENTS, "bad arguments: -L (the local path) is missing")
    if not args.user.strip().isdigit():
        raise Refused(BAD_ARGUMENTS, f"bad arguments: -U {args.user!r} is not an account id")
    storage = _STORAGE.match(args.storage.strip())
    wanted = STORAGE_OF_TYPE[args.type]
    if storage is None or storage.group(1) != wanted:
        raise Refused(
            BAD_ARGUMENTS,
            f"bad arguments: -S {args.storage!r} is not the {wanted} storage id "
            f"('{wanted}-<account id>', as getBid gives it) for {args.type}",
        )
    account_id = int(args.user)
    if int(storage.group(2)) != account_id:
        raise Refused(
            BAD_ARGUMENTS,
            f"bad arguments: storage {args.storage!r} is not the storage of account {account_id}",
        )
    return Request(
        type=args.type,
        server=farm_url(args.host, args.port),
        account_id=account_id,
        storage=args.storage.strip(),
        local=args.local,
        remote=args.remote,
        keep=str(args.keep).strip().lower() not in ("false", "0", "no"),
    )


def reachable(url: str) -> None:
    """Refuse (exit 9) when the farm's host does not resolve or takes no connection."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=10).close()
    except OSError as exc:
        raise Refused(
            BAD_ARGUMENTS,
            f"cannot reach the farm at {url} ({exc.strerror or exc}): "
            "check the address getConfig gives and that the farm is running",
        ) from None


def same_farm(a: str, b: str) -> bool:
    """Whether two base URLs name the same farm (scheme, host and port; default ports filled)."""

    def key(url: str) -> tuple[str, str, int]:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        scheme = parts.scheme.lower()
        default = 443 if scheme == "https" else 80
        return scheme, (parts.hostname or "").lower(), port or default

    return key(a) == key(b)


def connect(req: Request) -> Client:
    """A `Client` for the stored login (or FOXDEN_*), at the farm the SDK named.

    The access key goes to the login's farm only: a `-H` that names another farm is refused.
    """
    from foxden.client.api import Client
    from foxden.client.settings import load_login, server_url

    env = dict(os.environ)
    if req.server and not env.get("FOXDEN_SERVER"):
        env["FOXDEN_SERVER"] = req.server  # the login may name none: the SDK's farm is the one
    try:
        login = load_login(env)
        base = server_url(login.server)
        if req.server and not same_farm(server_url(req.server), base):
            raise Refused(
                BAD_ARGUMENTS,
                f"the SDK's farm ({server_url(req.server)}) is not the farm of your foxden login "
                f"({base}): log in to it (foxden login --server {server_url(req.server)} ...), "
                "or give the SDK the address you logged in with",
            )
    except FoxdenError as exc:
        raise Refused(BAD_ARGUMENTS, exc.message) from None
    reachable(base)
    client = Client(base, login.access_key, verify=login.verify(), progress=False)
    try:
        me = client.me()
    except BaseException:
        client.close()
        raise
    if me.id != req.account_id:
        client.close()
        raise Refused(
            BAD_ARGUMENTS,
            f"-U {req.account_id} is not the account of this access key ({me.name}, id {me.id}): "
            "log in (foxden login) as the account the SDK uses",
        )
    return client


def say(line: str) -> None:
    """One line of progress on stdout (the SDK logs each line)."""
    print(line, flush=True)


def upload_json(client: Client, req: Request) -> int:
    """Upload the files and folders an upload.json lists; 11 when some are missing."""
    from foxden.client.transfer import client_path, walk
    from foxden.paths import mirror

    try:
        data = json.loads(Path(req.local).read_text(encoding="utf-8"))
        entries = data.get("asset", []) if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise ValueError("no 'asset' list")
        locals_ = [str(e["local"]) for e in entries]
    except FileNotFoundError:
        raise Refused(BAD_ARGUMENTS, f"{req.local}: no such upload.json") from None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise Refused(
            BAD_ARGUMENTS,
            f"{req.local} is not an upload.json ({{'asset': [{{'local': ...}}]}}): {exc}",
        ) from None
    present: list[str] = []
    missing: list[str] = []
    for path in dict.fromkeys(locals_):
        (present if os.path.exists(path) else missing).append(path)
    for path in missing:
        print(f"upload file fail: {path} does not exist on this machine", file=sys.stderr)
    if present:
        found = walk(present)
        for link, target in found.skipped_links:
            say(f"skipped {link}: a symbolic link to {target}, outside the folder uploaded")
        for f in found.files:
            say(f"upload {f} -> {mirror(client_path(f))}")
        stats = client.upload([str(f) for f in found.files])
        say(
            f"uploaded {stats.files_sent} file(s), {stats.bytes_sent} bytes sent; "
            f"{stats.files_skipped} of {stats.files} already on the farm; {stats.seconds:.1f} s"
        )
    else:
        say("nothing to upload")
    if missing:
        print(
            f"{len(missing)} file(s) of {req.local} do not exist here and were not uploaded",
            file=sys.stderr,
        )
        return MISSING_FILES
    return OK


def upload_path(client: Client, req: Request) -> int:
    """Store one file as a task's config file (`-R /<task id>/cfg/<name>`)."""
    match = _CONFIG_REMOTE.match(req.remote.strip().replace("\\", "/"))
    if match is None:
        raise Refused(
            BAD_ARGUMENTS,
            f"bad arguments: -R {req.remote!r} is not '/<task id>/cfg/<file name>'",
        )
    task_id, name = int(match.group(1)), match.group(2)
    try:
        content = Path(req.local).read_bytes()
    except FileNotFoundError:
        print(f"upload file fail: {req.local} does not exist on this machine", file=sys.stderr)
        return MISSING_FILES
    except OSError as exc:
        raise Refused(BAD_ARGUMENTS, f"cannot read {req.local}: {exc.strerror or exc}") from None
    reply = client.request(
        "PUT",
        f"/api/tasks/{task_id}/configs/{quote(name, safe='')}",
        content=content,
        headers={"Content-Type": "application/octet-stream"},
    )
    size = reply.get("size", len(content)) if isinstance(reply, dict) else len(content)
    say(f"upload {req.local} -> task {task_id} config {name} ({size} bytes)")
    return OK


def download_path(client: Client, req: Request) -> int:
    """Download a task's outputs (`-R <task id>_<scene>[/folder]`) into `-L`."""
    remote = req.remote.strip().replace("\\", "/").strip("/")
    folder = remote.split("/", 1)[0]
    match = _TASK_FOLDER.match(folder)
    if match is None:
        raise Refused(
            BAD_ARGUMENTS,
            f"bad arguments: -R {req.remote!r} is not a task's output folder ('<task id>_<scene>')",
        )
    task_id = int(match.group(1))
    task = client.task(task_id)
    if task.output_folder != folder:
        raise Refused(
            BAD_ARGUMENTS,
            f"bad arguments: task {task_id}'s output folder is {task.output_folder!r}, "
            f"not {folder!r}",
        )
    dest = Path(req.local)
    stats = client.download(task_id, dest, under=remote, flatten=not req.keep)
    say(
        f"downloaded {stats.files_fetched} file(s) of task {task_id} into {dest}"
        f"{'/' + remote if req.keep else ''}; {stats.files_skipped} of {stats.files} "
        f"already there; {stats.seconds:.1f} s"
    )
    return OK


def install(folder: str, *, windows: bool | None = None) -> Path:
    """Write the wrapper `folder/foxden-transmit` (`.cmd` on Windows) in a private folder (0700)
    that holds nothing else; returns its path.

    The SDK makes every file in its transmitter's folder world-writable, so a folder that holds
    other files is refused.
    """
    windows = os.name == "nt" if windows is None else windows
    target = Path(folder).expanduser().resolve()
    name = WRAPPER_NAME + (".cmd" if windows else "")
    if target.exists():
        if not target.is_dir():
            raise BadRequest(f"{target} exists and is not a folder: give a new folder")
        others = sorted(p.name for p in target.iterdir() if p.name not in (name, f"{name}.tmp"))
        if others:
            raise BadRequest(
                f"{target} holds other files ({', '.join(others[:3])}); the SDK makes every file "
                "in its transmitter's folder world-writable: give a new, empty folder"
            )
    target.mkdir(parents=True, exist_ok=True)
    os.chmod(target, 0o700)
    exe = target / name
    if windows:
        script = (
            "@rem foxden's transmitter for the vendor's SDK: pass this file as transmitter_exe=\r\n"
            f'@"{sys.executable}" -m foxden.client.transmit %*\r\n'
        )
    else:
        script = (
            "#!/bin/sh\n"
            "# foxden's transmitter for the vendor's SDK: pass this file as transmitter_exe=\n"
            f'exec {shlex.quote(sys.executable)} -m foxden.client.transmit "$@"\n'
        )
    tmp = exe.with_name(exe.name + ".tmp")
    tmp.write_bytes(script.encode())
    os.chmod(tmp, 0o755)
    os.replace(tmp, exe)
    return exe


def exit_code(exc: BaseException) -> int:
    """The transmitter's exit status for a failure."""
    if isinstance(exc, UntrustedCertificate | Unauthorized | Forbidden | BadRequest | NotFound):
        return BAD_ARGUMENTS
    if isinstance(exc, TooManyRequests | TransferError):
        return RETRY
    if isinstance(exc, FoxdenError):
        return RETRY if exc.status_code >= 500 else BAD_ARGUMENTS
    if isinstance(exc, ConnectionError | TimeoutError | httpx.HTTPError | Retryable):
        return RETRY  # the network failed after the client's own retries
    return BAD_ARGUMENTS


RUNS = {"upload_json": upload_json, "upload_path": upload_path, "download_path": download_path}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one transfer; returns the exit status the SDK reads."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        args, extra = parser().parse_known_args(argv)
        if extra:
            say(f"ignored: {' '.join(extra)}")
        if args.install:
            say(str(install(args.install)))
            return OK
        req = request_of(args)
        with connect(req) as client:
            return RUNS[req.type](client, req)
    except Refused as exc:
        print(f"foxden-transmit: {exc.message}", file=sys.stderr)
        return exc.code
    except FoxdenError as exc:
        print(f"foxden-transmit: {exc.message}", file=sys.stderr)
        return exit_code(exc)
    except Exception as exc:  # the SDK sees the exit status only: say what happened
        print(f"foxden-transmit: {type(exc).__name__}: {exc}", file=sys.stderr)
        return exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
