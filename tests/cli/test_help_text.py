"""Every option and argument of every `foxden` command says what it is for in `--help`."""

from __future__ import annotations

import argparse
import os
import subprocess

from foxden.cli import build_parser
from tests.cli.clikit import FOXDEN


def test_every_option_of_every_command_has_help_text() -> None:
    silent: list[str] = []
    seen: list[str] = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])
            else:
                seen.append(" ".join(path))
                if not action.help:
                    silent.append(f"{' '.join(path)} {action.option_strings or action.dest}")

    walk(build_parser(), [])
    assert {"serve", "account create", "workers revoke", "worker", "up"} <= set(seen)
    assert silent == []


def test_the_servers_options_say_their_defaults() -> None:
    wide = dict(os.environ, COLUMNS="200")  # one line an option
    serve = subprocess.run(
        [*FOXDEN, "serve", "--help"], capture_output=True, text=True, timeout=60, env=wide
    ).stdout
    assert "default 127.0.0.1" in serve and "default 8642" in serve and "default 60" in serve
    revoke = subprocess.run(
        [*FOXDEN, "workers", "revoke", "--help"], capture_output=True, text=True, env=wide
    ).stdout
    assert "foxden workers list" in revoke
