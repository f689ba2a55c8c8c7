"""PostgreSQL's pooled connections: checked before use only when they sat idle a while
(`engine.PING_AFTER_IDLE_S`), and a connection the server dropped is replaced either way."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from foxden.db import engine as db_engine
from foxden.db.engine import Database
from tests.conftest import PG_ADMIN_DSN

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # its pool's


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, pool_size=2)
    yield database
    database.dispose()


def _backend(db: Database) -> int:
    with db.read() as conn:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def _terminate(pid: int) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)


def _pings(db: Database) -> list[int]:
    """Grows by one at each round trip a checkout's check makes."""
    seen: list[int] = []
    real = db.engine.dialect.do_ping

    def counted(dbapi: object) -> bool:
        seen.append(1)
        return bool(real(dbapi))

    db.engine.dialect.do_ping = counted  # type: ignore[method-assign]
    return seen


def test_a_busy_connection_is_not_pinged_an_idle_one_is(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = _pings(db)
    first = _backend(db)
    for _ in range(5):
        assert _backend(db) == first  # the same connection, handed out again at once
    assert pings == []
    monkeypatch.setattr(db_engine, "PING_AFTER_IDLE_S", 0.0)
    assert _backend(db) == first
    assert pings == [1]


def test_a_connection_dropped_while_idle_is_replaced_before_use(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend(db)
    _terminate(first)
    monkeypatch.setattr(db_engine, "PING_AFTER_IDLE_S", 0.0)  # it sat idle long enough
    assert _backend(db) != first  # no error: the check found it gone


def test_a_connection_dropped_within_the_window_fails_once_then_the_pool_is_renewed(
    db: Database,
) -> None:
    """The price of not pinging a busy connection: the statement that finds it gone fails
    (a worker retries its call), and the next gets a new connection."""
    first = _backend(db)
    renewed: list[int] = []
    event.listen(db.engine, "connect", lambda *_: renewed.append(1))
    _terminate(first)
    with pytest.raises(OperationalError):
        _backend(db)
    assert _backend(db) != first
    assert renewed == [1]
