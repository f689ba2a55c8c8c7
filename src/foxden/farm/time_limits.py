"""A task's time limits: how long one frame may render, how long a renderer may go without
progress (no progress and no log line) before the worker kills it and fails the frame as timed
out (`worker/watchdog.py`).

A task's own limits (`frame_timeout_s`, `progress_timeout_s` at submit; the SDK's
setTaskOverTimeStop sets the first), else its project's defaults, else for a frame's render
time its account's SDK setting (`taskOverTimeSec`). The claim resolves them (`scheduler`), so
a project's new default applies to the frames claimed after it.
"""

from __future__ import annotations

from typing import Any

from foxden.errors import BadRequest

MAX_TIMEOUT_S = 30 * 24 * 3600  # as the SDK's own bound
TIMEOUT_FIELDS = ("frame_timeout_s", "progress_timeout_s")


def limit_seconds(name: str, value: Any) -> int | None:
    """A time limit as given (seconds; 0 or null: none), checked (400 for anything else)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadRequest(f"{name} must be a whole number of seconds (0: no limit), not {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise BadRequest(
            f"{name} must be a whole number of seconds (0: no limit), not {value!r}"
        ) from None
    if number != number or not number.is_integer() or not 0 <= number <= MAX_TIMEOUT_S:
        raise BadRequest(
            f"{name} must be a whole number of seconds from 1 to {MAX_TIMEOUT_S} "
            f"(0: no limit), not {value!r}"
        )
    return int(number) or None


def submit_values(request: dict[str, Any]) -> dict[str, int | None]:
    """The task row's time limits from a submit request (only those it gives)."""
    return {name: limit_seconds(name, request[name]) for name in TIMEOUT_FIELDS if name in request}
