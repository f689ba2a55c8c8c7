"""`pip install foxden` with no extras, in a fresh virtual environment: the client alone.

`Fox`, `Client` and the client's commands work without the server's dependencies, and a
server or render-node command says which extra it needs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVER_ONLY = (
    "fastapi",
    "sqlalchemy",
    "uvicorn",
    "alembic",
    "psycopg",
    "jinja2",
    "PIL",
    "cryptography",
)


def _run(
    argv: list[str | Path], extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "FOXDEN_SERVER", "FOXDEN_ACCOUNT", "FOXDEN_ACCESS_KEY")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra_env or {}, PIP_DISABLE_PIP_VERSION_CHECK="1")
    argv_ = [str(a) for a in argv]
    return subprocess.run(argv_, capture_output=True, text=True, env=env, timeout=540, check=False)


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with `pip install <a copy of this repository>` (no extras)."""
    base = tmp_path_factory.mktemp("install")
    source = base / "foxden"  # a copy, so the build leaves nothing in the repository
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    venv = base / "venv"
    made = _run([sys.executable, "-m", "venv", venv])
    assert made.returncode == 0, made.stderr
    installed = _run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", source])
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return venv


@pytest.mark.timeout(600)
def test_the_client_imports_without_the_server(client_venv: Path) -> None:
    python = client_venv / "bin" / "python"
    probe = (
        "import importlib.util, foxden; foxden.Fox; foxden.Client; foxden.FoxdenError; "
        f"print([m for m in {SERVER_ONLY!r} if importlib.util.find_spec(m)])"
    )
    out = _run([python, "-c", probe])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"  # none of the server's or render node's dependencies


@pytest.mark.timeout(600)
def test_the_client_commands_work_and_the_others_name_their_extra(
    client_venv: Path, tmp_path: Path
) -> None:
    foxden = client_venv / "bin" / "foxden"
    top = _run([foxden, "--help"])
    assert top.returncode == 0 and "login" in top.stdout and "serve" in top.stdout, top.stderr
    for command in ("login", "render", "tasks"):
        helped = _run([foxden, command, "--help"])
        assert helped.returncode == 0 and "usage: foxden" in helped.stdout, helped.stderr
    alone = {"FOXDEN_CONFIG_DIR": str(tmp_path / "config"), "FOXDEN_CACHE_DIR": str(tmp_path)}
    unset = _run([foxden, "tasks"], extra_env=alone)  # a client command runs: no login yet
    assert unset.returncode == 1 and "foxden login" in unset.stderr, unset.stderr
    serve = _run([foxden, "serve", "--data-dir", tmp_path / "farm"])
    assert serve.returncode == 1 and "pip install 'foxden[server]'" in serve.stderr, serve.stderr
    worker = _run([foxden, "worker", "--server", "http://127.0.0.1:1", "--join-key", "k"])
    assert worker.returncode == 1 and "pip install 'foxden[worker]'" in worker.stderr, worker.stderr
