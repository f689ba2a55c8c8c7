"""A `foxden` command imports what it needs: its own group of commands, not the server's code
for a client command, nothing for `--version`; and it behaves as with every group loaded."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest

from foxden.cli import _COMMAND_GROUPS, _GROUPS, build_parser


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_the_command_map_names_the_group_that_registers_each_command() -> None:
    registered: dict[str, str] = {}
    for group in _GROUPS:
        parser = argparse.ArgumentParser()
        importlib.import_module(group).register(parser.add_subparsers())
        registered.update(dict.fromkeys(_commands(parser), group))
    assert registered == _COMMAND_GROUPS


@pytest.mark.parametrize("command", ["upload", "download", "serve", "worker", "limit", "stop"])
def test_a_command_parses_and_helps_as_with_every_group_loaded(command: str) -> None:
    full = _commands(build_parser())[command]
    lazy = _commands(build_parser([command, "--help"]))
    group = _COMMAND_GROUPS[command]
    assert set(lazy) == {name for name, owner in _COMMAND_GROUPS.items() if owner == group}
    assert lazy[command].format_help() == full.format_help()


def test_an_unknown_or_missing_command_loads_every_group() -> None:
    every = set(_commands(build_parser()))
    assert set(_commands(build_parser(["nonsense"]))) == every
    assert set(_commands(build_parser([]))) == every
    assert set(_commands(build_parser(["--help"]))) == every
    assert _commands(build_parser(["--version"])) == {}


def _modules_after(*argv: str) -> set[str]:
    """The modules a `foxden` run of `argv` imported (it is stopped by --help or --version)."""
    script = (
        "import sys\n"
        "from foxden.cli import main\n"
        "try:\n"
        f"    main({list(argv)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "import httpx\n"  # as a command that talks to a farm does
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return set(out.stdout.split())


def test_a_client_command_imports_neither_the_server_nor_httpx_command_line() -> None:
    loaded = _modules_after("upload", "--help")
    assert "foxden.cli.client" in loaded
    assert not {m for m in loaded if m.startswith(("foxden.server", "sqlalchemy", "fastapi"))}
    assert "foxden.cli.server" not in loaded
    assert "click" not in loaded and "httpx" in loaded  # httpx._main pulls click in
    assert not {m for m in _modules_after("--version") if m.startswith("foxden.cli.")}
