"""The sandbox's command line, and real sandboxes: what they see, and that stopping kills them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from foxden.worker.launcher import dies_with_worker
from foxden.worker.process import run_process
from foxden.worker.sandbox import Limits, Sandbox, SandboxUnavailable, clean_env, trusted_env
from tests.waiting import wait_until
from tests.worker.conftest import process_ids


@pytest.fixture
def lease_dirs(tmp_path: Path) -> tuple[Path, Path]:
    tree, out = tmp_path / "ws" / "tree", tmp_path / "ws" / "out"
    (tree / "v").mkdir(parents=True)
    (tree / "v" / "scene.txt").write_text("input\n")
    out.mkdir()
    return tree, out


def test_command_line_shape(lease_dirs: tuple[Path, Path]) -> None:
    tree, out = lease_dirs
    box = Sandbox(limits=Limits(processes=64, tmp_size=1 << 20))
    argv = box.wrap(["blender", "-b"], cwd=tree, read_only=[tree], writable=[out], env={"A": "1"})
    assert argv[0].endswith("bwrap")
    for flag in ("--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"):
        assert flag in argv
    assert "--unshare-net" in argv and "--clearenv" in argv
    assert "--new-session" not in argv  # the process group must reach the sandbox
    assert ["--ro-bind", str(tree), str(tree)] == argv[argv.index(str(tree)) - 1 :][:3]
    assert ["--bind", str(out), str(out)] == argv[argv.index(str(out)) - 1 :][:3]
    assert "--nproc=64:64" in argv
    assert argv[-4:] == ["--", "A=1", "blender", "-b"]
    with_net = box.wrap(["x"], cwd=tree, read_only=[tree], writable=[out], env={}, network=True)
    assert "--unshare-net" not in with_net
    assert "/etc/resolv.conf" in with_net


def test_environments_never_carry_foxden_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOXDEN_JOIN_KEY", "fdj_secret")
    env = clean_env({"FOXDEN_OUTPUT_DIR": "/o"})
    assert set(env) == {"PATH", "HOME", "TMPDIR", "LANG", "FOXDEN_OUTPUT_DIR"}
    assert "FOXDEN_JOIN_KEY" not in trusted_env({})
    with pytest.raises(ValueError):
        clean_env({"BAD NAME": "x"})


def test_missing_bubblewrap_is_named() -> None:
    with pytest.raises(SandboxUnavailable, match="bubblewrap"):
        Sandbox("/nonexistent/bwrap")


def test_sandbox_sees_only_its_lease(lease_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    tree, out = lease_dirs
    (tmp_path / "secret.txt").write_text("host secret\n")
    box = Sandbox(limits=Limits(processes=64))
    box.check(tmp_path / "work")
    box.prepare([tree], [out])
    script = (
        f"cat {tree}/v/scene.txt; cat {tmp_path}/secret.txt; ls /root /home; "
        f"echo made > {out}/made.txt; echo no > {tree}/v/new.txt; id -u; env"
    )
    lines: list[str] = []
    argv = box.wrap(
        ["sh", "-c", script], cwd=tree, read_only=[tree], writable=[out], env=clean_env({})
    )
    result = run_process(argv, tree, {"PATH": "/usr/bin:/bin"}, lines.append, inherit_env=False)
    text = "\n".join(lines)
    assert result.returncode == 0, text
    assert "input" in text and "host secret" not in text
    assert (out / "made.txt").read_text() == "made\n"
    assert not (tree / "v" / "new.txt").exists()
    assert "\n0\n" not in f"\n{text}\n"  # not root inside
    assert "FOXDEN" not in text


def test_stopping_kills_the_whole_sandbox(lease_dirs: tuple[Path, Path]) -> None:
    """Even a process that left the group (setsid) dies with the sandbox's PID namespace."""
    tree, out = lease_dirs
    box = Sandbox()
    box.prepare([tree], [out])
    marker = "31337.25"
    script = f"setsid sleep {marker} & sleep {marker} & echo started; wait"
    argv = box.wrap(
        ["sh", "-c", script], cwd=tree, read_only=[tree], writable=[out], env=clean_env({})
    )
    started: list[float] = []

    def on_line(line: str) -> None:
        if line == "started":
            started.append(time.monotonic())

    def should_stop() -> bool:
        return bool(started) and len(process_ids(marker, "sleep")) >= 2

    clock = time.monotonic()
    result = run_process(
        dies_with_worker(argv, os.getpid()),
        tree,
        {"PATH": "/usr/bin:/bin"},
        on_line,
        should_stop,
        grace=1.0,
        inherit_env=False,
    )
    assert result.killed
    assert time.monotonic() - clock < 20
    wait_until("the sandbox to be gone", lambda: process_ids(marker) == [], timeout=5, every=0.05)
