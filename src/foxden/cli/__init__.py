"""The `foxden` command. Each group of subcommands lives in its own module with `register()`."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from foxden import __version__
from foxden.errors import FoxdenError

_GROUPS = (
    "foxden.cli.server",
    "foxden.cli.policy",
    "foxden.cli.worker",
    "foxden.cli.client",
    "foxden.cli.operate",
    "foxden.cli.events",
)

# What a plain `pip install foxden` (the client) lacks, and the extra that brings it.
_EXTRAS = {
    **dict.fromkeys(
        (
            "alembic",
            "blender_asset_tracer",
            "fastapi",
            "jinja2",
            "multipart",
            "psycopg",
            "python_multipart",
            "sqlalchemy",
            "starlette",
            "uvicorn",
        ),
        "server",
    ),
    "PIL": "worker",
}


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """The extra (`server`, `worker`) that installs the module `exc` did not find, if one does."""
    return _EXTRAS.get((exc.name or "").split(".")[0])


#: The group that registers each command: a run of one command imports only its group (a
#: command not named here, or none, loads them all). tests/cli/test_lazy_start.py holds this
#: to what the groups register.
_COMMAND_GROUPS = {
    **dict.fromkeys(
        ("account", "fsck", "gc", "join-key", "migrate", "project", "serve", "workers"),
        "foxden.cli.server",
    ),
    "limit": "foxden.cli.policy",
    **dict.fromkeys(("up", "worker"), "foxden.cli.worker"),
    **dict.fromkeys(
        ("download", "frames", "login", "movie", "projects", "render", "submit", "tasks", "upload"),
        "foxden.cli.client",
    ),
    **dict.fromkeys(("abort", "delete", "log", "restart", "resume", "stop"), "foxden.cli.operate"),
    **dict.fromkeys(("usage", "webhooks"), "foxden.cli.events"),
}


def _groups_for(argv: Sequence[str] | None) -> tuple[str, ...]:
    """The command groups a run with `argv` needs (all of them unless it names a command)."""
    if argv is None:
        return _GROUPS
    words = list(argv)
    if words == ["--version"]:
        return ()
    # the top-level options take no values: the first word that is not one is the command
    command = next((w for w in words if not w.startswith("-")), None)
    group = _COMMAND_GROUPS.get(command or "")
    return _GROUPS if group is None else (group,)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser with every available subcommand (or, given the arguments it is
    for, with what they need: the command's own group, none for `--version`)."""
    parser = argparse.ArgumentParser(
        prog="foxden", description="foxden: a self-hostable render farm"
    )
    parser.add_argument("--version", action="version", version=f"foxden {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _groups_for(argv):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `foxden` command line."""
    if "httpx" not in sys.modules:
        # httpx's own command line (httpx._main: click, rich, pygments) is imported with httpx
        # when it can be; foxden never runs it, and a command's start should not pay for it
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit:  # --help or a usage error, printed already
        _flush_stdout()
        raise
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request is noise here
    code = 0
    try:
        code = args.func(args)
    except BrokenPipeError:
        _quiet_stdout()  # the reader went away (`foxden tasks | head -1`): nothing more to say
    except FoxdenError as exc:
        print(f"foxden: {exc.message}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        extra = missing_extra(exc)
        if extra is None:
            raise
        print(
            f"foxden: `foxden {args.command}` needs foxden[{extra}] ({exc.name} is not installed): "
            f"pip install 'foxden[{extra}]'",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 130
    _flush_stdout()
    return code


def _flush_stdout() -> None:
    """Flush stdout now, quietly if its reader has gone away."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
