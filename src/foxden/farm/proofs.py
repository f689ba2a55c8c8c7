"""What a worker may report: only blobs it uploaded for the lease, at the size it uploaded.

Every worker upload names the lease it is for; the server records (lease, hash, size) once the
bytes are verified. A frame report may name as output or thumbnail only such a blob, and an
output's reported size must be the uploaded size: a worker can never make an account own a
blob by naming its hash (say, another account's render).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from sqlalchemy import Connection, Insert, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from foxden.core.states import LIVE_LEASES
from foxden.db.engine import Database
from foxden.db.schema import blobs, lease_blobs, leases
from foxden.errors import LeaseLost, NotFound, Unprocessable
from foxden.wire.worker import OutputFile


def _lease_state(conn: Connection, worker_id: int, lease_id: int) -> str:
    state = conn.execute(
        select(leases.c.state).where((leases.c.id == lease_id) & (leases.c.worker_id == worker_id))
    ).scalar()
    if state is None:
        raise NotFound(f"lease {lease_id} is not one of yours: upload outputs for your own lease")
    if state not in LIVE_LEASES:  # a revoked lease may still report what it finished
        raise LeaseLost(f"lease {lease_id} is {state}: its frames went back to the queue")
    return str(state)


def check_lease(db: Database, worker_id: int, lease_id: int) -> None:
    """Refuse an upload for a lease that is not a live lease of this worker (before the bytes)."""
    with db.read() as conn:
        _lease_state(conn, worker_id, lease_id)


def _insert_new(conn: Connection, table: Table) -> Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def record_upload(db: Database, worker_id: int, lease_id: int, digest: str, size: int) -> None:
    """Note a verified blob in the store's index and as uploaded for the lease."""
    with db.write(durable=False) as conn:
        _lease_state(conn, worker_id, lease_id)
        conn.execute(
            _insert_new(conn, blobs).values(hash=digest, size=size, created_at=time.time())
        )
        conn.execute(
            _insert_new(conn, lease_blobs).values(lease_id=lease_id, hash=digest, size=size)
        )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 100 else text[:100] + "..."


def check_outputs(conn: Connection, lease_id: int, frame: int, items: Iterable[OutputFile]) -> None:
    """Refuse (422) a frame's outputs unless each is a blob uploaded for this lease, its size
    the uploaded size, and each thumbnail one too."""
    items = list(items)
    wanted = {i.hash for i in items} | {i.thumbnail for i in items if i.thumbnail}
    if not wanted:
        return
    uploaded = dict(
        conn.execute(
            select(lease_blobs.c.hash, lease_blobs.c.size).where(
                (lease_blobs.c.lease_id == lease_id) & lease_blobs.c.hash.in_(sorted(wanted))
            )
        ).all()
    )
    for item in items:
        name, digest = _short(item.name), item.hash
        if digest not in uploaded:
            raise Unprocessable(
                f"frame {frame}: output {name} names blob {digest}, which you did not upload "
                "for this lease: upload it (PUT /api/worker/blobs/{hash}?lease=ID) first"
            )
        if item.size != uploaded[digest]:
            raise Unprocessable(
                f"frame {frame}: output {name} is reported as {item.size} bytes, "
                f"but its upload was {uploaded[digest]} bytes"
            )
        thumb = item.thumbnail
        if thumb and thumb not in uploaded:
            raise Unprocessable(
                f"frame {frame}: the thumbnail of output {name} names blob {thumb}, which you "
                "did not upload for this lease"
            )
