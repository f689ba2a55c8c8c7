"""Web sessions on the server: one `web_sessions` row per login, keyed by the SHA-256 of the
random session id its cookie carries. Logging out revokes the row; a cookie whose row is
revoked, expired or missing opens nothing."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import delete, select, update

from foxden.db.engine import Database
from foxden.db.schema import accounts, web_sessions
from foxden.errors import Forbidden, Unauthorized
from foxden.farm.accounts import Account, check_account


def open_session(db: Database, account_id: int, digest: str, expires_at: float) -> None:
    """Record a new session (and drop sessions that ended more than a day ago)."""
    now = time.time()
    with db.write() as conn:
        conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < now - 86400))
        conn.execute(
            web_sessions.insert().values(
                id=digest, account_id=account_id, created_at=now, expires_at=expires_at
            )
        )


def extend(db: Database, digest: str, expires_at: float) -> None:
    """Move a live session's end to `expires_at` (a renewed cookie)."""
    with db.write() as conn:
        conn.execute(
            update(web_sessions)
            .where((web_sessions.c.id == digest) & web_sessions.c.revoked.is_(False))
            .values(expires_at=expires_at)
        )


def revoke(db: Database, digest: str) -> None:
    """End a session on the server: its cookie opens nothing from now on."""
    with db.write() as conn:
        conn.execute(update(web_sessions).where(web_sessions.c.id == digest).values(revoked=True))


def live_account(
    db: Database, digest: str, account_id: int, key_ok: Callable[[str], bool]
) -> Account | None:
    """The account of a live session (not revoked, not expired) if it passes the account check
    (`accounts.check_account`: enabled, and `key_ok` accepts its key hash); None otherwise."""
    live = (
        select(web_sessions.c.id)
        .where(
            (web_sessions.c.id == digest)
            & (web_sessions.c.account_id == accounts.c.id)
            & web_sessions.c.revoked.is_(False)
            & (web_sessions.c.expires_at > time.time())
        )
        .exists()
    )
    try:
        with db.read() as conn:
            return check_account(conn, (accounts.c.id == account_id) & live, key_ok)
    except (Unauthorized, Forbidden):
        return None
