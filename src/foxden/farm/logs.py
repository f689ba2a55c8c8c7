"""Frame logs with bounds: what one heartbeat or report may add, and what one attempt keeps.

A renderer can print without end; the farm keeps, per frame attempt, the first `HEAD_BYTES` of
its log and the last `TAIL_BYTES`, with one line between them saying how much was cut:
`[... N bytes cut ...]`. One heartbeat or report adds at most `CHUNK_BYTES` per frame (more is
cut in the middle, saying so the same way). Sizes are UTF-8 bytes.

What is kept is the log a user reads (REST, web, CLI, the vendors' log calls): foxden's progress
markers are left out and its warnings and errors worded (`readable`). The worker already sends
it so, with paths as the user knows them; a worker older than that sends markers, which are
left out here too (its paths stay as it wrote them).
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, LargeBinary, cast, func, insert, select, update

from foxden.db.schema import frame_logs
from foxden.jobtypes.base import readable_line

CHUNK_BYTES = 1 << 20  # of one frame's log in one heartbeat or report
HEAD_BYTES = 8 << 20  # kept from the start of one attempt's log
TAIL_BYTES = 1 << 20  # kept from its end, once the head is full
ERROR_BYTES = 4000  # of the error a report gives for a failed frame

_MARKER = re.compile(r"^\n?\[\.\.\. (\d+) bytes cut \.\.\.\]\n$")


def marker(cut: int) -> str:
    """The line that stands where `cut` bytes of a log were left out."""
    return f"\n[... {cut} bytes cut ...]\n"


def bound(text: str, limit: int) -> str:
    """`text` if it fits in `limit` UTF-8 bytes, else its head and tail around a marker."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return text
    half = max(0, limit - 32) // 2
    head = data[:half].decode("utf-8", errors="ignore")
    tail = data[len(data) - half :].decode("utf-8", errors="ignore")
    return head + marker(len(data) - 2 * half) + tail


def readable(text: str) -> str:
    """Log text without foxden's progress markers (`foxden.jobtypes.base.readable_line`)."""
    if "FOXDEN_" not in text:
        return text
    lines = [readable_line(line) for line in text.split("\n")]
    return "\n".join(line for line in lines if line is not None)


def _stored_bytes(conn: Connection, frame_id: int, attempt: int) -> int:
    column = frame_logs.c.text
    size = (
        func.octet_length(column)
        if conn.dialect.name == "postgresql"
        else func.length(cast(column, LargeBinary))
    )
    total = conn.execute(
        select(func.coalesce(func.sum(size), 0)).where(
            (frame_logs.c.frame_id == frame_id) & (frame_logs.c.attempt == attempt)
        )
    ).scalar()
    return int(total or 0)


def append(conn: Connection, frame_id: int, attempt: int, text: str, now: float) -> None:
    """Add log text to a frame attempt, within the bounds above (in the caller's transaction)."""
    text = bound(readable(text), CHUNK_BYTES)
    if not text:
        return
    data = text.encode("utf-8", errors="replace")
    stored = _stored_bytes(conn, frame_id, attempt)
    if stored + len(data) <= HEAD_BYTES:
        _insert(conn, frame_id, attempt, text, now)
        return
    last = conn.execute(
        select(frame_logs.c.id, frame_logs.c.text)
        .where((frame_logs.c.frame_id == frame_id) & (frame_logs.c.attempt == attempt))
        .order_by(frame_logs.c.id.desc())
        .limit(2)
    ).all()
    found = _MARKER.match(last[1].text) if len(last) == 2 else None
    if found is None:  # the head fills up; from now on only a tail is kept, behind a marker
        room = max(0, HEAD_BYTES - stored)
        if room:
            _insert(conn, frame_id, attempt, data[:room].decode("utf-8", errors="ignore"), now)
        tail, cut, mark_id, tail_id = data[room:], 0, None, None
    else:
        tail, cut = last[0].text.encode("utf-8", errors="replace") + data, int(found.group(1))
        mark_id, tail_id = last[1].id, last[0].id
    extra = max(0, len(tail) - TAIL_BYTES)
    kept = tail[extra:].decode("utf-8", errors="ignore")
    if mark_id is None or tail_id is None:
        _insert(conn, frame_id, attempt, marker(extra), now)  # the marker's id comes first
        _insert(conn, frame_id, attempt, kept, now)
        return
    conn.execute(
        update(frame_logs).where(frame_logs.c.id == mark_id).values(text=marker(cut + extra))
    )
    conn.execute(
        update(frame_logs).where(frame_logs.c.id == tail_id).values(text=kept, created_at=now)
    )


def _insert(conn: Connection, frame_id: int, attempt: int, text: str, now: float) -> None:
    conn.execute(
        insert(frame_logs).values(frame_id=frame_id, attempt=attempt, text=text, created_at=now)
    )
