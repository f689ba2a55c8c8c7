"""What administrators decide of the farm's order: accounts' shares and tasks' bands.

An account's share (`accounts.share`, 1 by default) is its weight among the accounts that
compete for render slots: a claim serves the account whose running frames are the fewest for
its share (`foxden.farm.candidates`). A task's band (`tasks.band`, 0 by default) goes before
shares, farm-wide: a task in a higher band is served first, whatever its account.
"""

from __future__ import annotations

import math

from sqlalchemy import select, update

from foxden.db.engine import Database
from foxden.db.schema import accounts, tasks
from foxden.errors import BadRequest, NotFound
from foxden.farm import lifecycle
from foxden.wire.policy import BandOut, ShareOut

MAX_SHARE = 10_000.0
MAX_BAND = 1000


def set_share(db: Database, account_name: str, share: float) -> ShareOut:
    """Set an account's share (a weight above 0, at most 10,000)."""
    try:
        value = float(share)
    except (TypeError, ValueError):
        raise BadRequest(f"a share is a number above 0, not {share!r}") from None
    if not math.isfinite(value) or not 0 < value <= MAX_SHARE:
        raise BadRequest(f"a share is a number above 0 and at most {MAX_SHARE:g}, not {share!r}")
    with db.write() as conn:
        found = conn.execute(
            update(accounts).where(accounts.c.name == account_name).values(share=value)
        ).rowcount
    if not found:
        raise NotFound(f"no account named {account_name!r}")
    return ShareOut(account=account_name, share=value)


def get_share(db: Database, account_name: str) -> ShareOut:
    """An account's share."""
    with db.read() as conn:
        share = conn.execute(
            select(accounts.c.share).where(accounts.c.name == account_name)
        ).scalar()
    if share is None:
        raise NotFound(f"no account named {account_name!r}")
    return ShareOut(account=account_name, share=float(share))


def set_band(db: Database, task_id: int, band: int) -> BandOut:
    """Set a task's band (-1000 to 1000; higher is served first, farm-wide)."""
    if isinstance(band, bool) or not isinstance(band, int):
        raise BadRequest(f"a band is a whole number, not {band!r}")
    if not -MAX_BAND <= band <= MAX_BAND:
        raise BadRequest(f"a band is between {-MAX_BAND} and {MAX_BAND}, not {band}")
    with db.write() as conn:
        lifecycle.lock_task(conn, task_id)
        found = conn.execute(update(tasks).where(tasks.c.id == task_id).values(band=band)).rowcount
    if not found:
        raise NotFound(f"no task {task_id}")
    return BandOut(task_id=task_id, band=band)
