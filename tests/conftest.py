"""Shared fixtures: real databases (SQLite and PostgreSQL) and a real server over HTTP."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

from foxden.cli.server import uvicorn_tls
from foxden.farm.accounts import create_account
from foxden.farm.rights import set_trusted
from foxden.server.app import create_app
from foxden.server.config import Settings
from foxden.server.context import Farm
from foxden.server.tls import ensure_self_signed
from tests.waiting import wait_until

PG_ADMIN_DSN = os.environ.get("FOXDEN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
DATABASES = ["sqlite", "postgresql"]


def _pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def pg_ready() -> bool:
    """PostgreSQL must be reachable: a farm database test is never skipped silently."""
    if not _pg_available():
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_DSN}: start it (see .ci/run)")
    return True


def _new_pg_database() -> tuple[str, str]:
    name = f"foxden_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    return name, f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)


def _drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: SQLite in a temp dir, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'farm.db'}"
        return
    request.getfixturevalue("pg_ready")
    name, url = _new_pg_database()
    try:
        yield url
    finally:
        _drop_pg_database(name)


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """A real foxden server on loopback, with an admin and a user account."""

    url: str
    farm: Farm
    admin_key: str
    user_key: str
    data_dir: Path

    def client(self, key: str | None = None, **kw: object) -> httpx.Client:
        """An HTTP client with `key` as bearer token."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kw)  # type: ignore[arg-type]

    app: Any = None

    def farm_app_routes(self) -> list[Any]:
        """The app's API routes (FastAPI 0.165 keeps an included router's routes inside it)."""
        from fastapi.routing import APIRoute

        found: list[Any] = []
        pending = list(self.app.routes)
        while pending:
            route = pending.pop(0)
            inner = getattr(route, "original_router", None)
            if inner is not None:
                pending.extend(inner.routes)
            elif isinstance(route, APIRoute):
                found.append(route)
        return found

    def new_account(self, name: str, admin: bool = False, trusted: bool = False) -> str:
        """Create an account (untrusted unless `trusted`); returns its key."""
        key = create_account(self.farm.db, name, admin=admin)[1]
        if trusted:
            set_trusted(self.farm.db, name, True)
        return key


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # run in a thread
        pass


def start_server(settings: Settings) -> tuple[_Server, threading.Thread, Farm]:
    """Start a foxden server in a thread; returns once it answers."""
    farm = Farm.open(settings)
    app = create_app(farm)
    server = _Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            **uvicorn_tls(settings),
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until("the server to start", lambda: server.started, timeout=20, every=0.02)
    return server, thread, farm


def farm_settings(db_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings of a test farm on `db_url` in `tmp_path` (leases of 30 s unless overridden)."""
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": db_url,
        "host": "127.0.0.1",
        "port": free_port(),
        "lease_seconds": 30,
        "heartbeat_seconds": 1,
        "reap_seconds": 0.2,
        "max_attempts": 3,
    }
    values.update(overrides)
    return Settings(**values)


@contextmanager
def running_server(settings: Settings) -> Iterator[LiveServer]:
    """A real server for `settings` with an admin and a user account, stopped on exit.

    The user, alice, is trusted with the command job type (most tests render with it);
    `LiveServer.new_account` makes untrusted ones (tests/security/test_trusted_accounts.py).
    """
    server, thread, farm = start_server(settings)
    _, admin_key = create_account(farm.db, "admin", admin=True)
    _, user_key = create_account(farm.db, "alice")
    set_trusted(farm.db, "alice", True)
    try:
        yield LiveServer(
            settings.url, farm, admin_key, user_key, settings.data_dir, app=server.config.app
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def server_settings(db_url: str, tmp_path: Path) -> Settings:
    """Settings of a test farm."""
    return farm_settings(db_url, tmp_path)


@pytest.fixture
def live_server(server_settings: Settings) -> Iterator[LiveServer]:
    """A real server over HTTP on a fresh database (run once on SQLite, once on PostgreSQL)."""
    with running_server(server_settings) as live:
        yield live


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A real server over HTTPS (SQLite) with the self-signed certificate `foxden up --tls`
    makes; `tls_server.data_dir / "tls" / "cert.pem"` is the certificate to trust."""
    data_dir = tmp_path / "tls-data"
    own = ensure_self_signed(data_dir, ["127.0.0.1"])
    settings = farm_settings(
        f"sqlite:///{tmp_path / 'tls.db'}",
        tmp_path,
        data_dir=data_dir,
        tls_cert=own.cert,
        tls_key=own.key,
    )
    with running_server(settings) as live:
        yield live
