"""A task's time limits on one renderer: the render time of a frame, the time without output.

The lease carries them (`frame_timeout_s`, `progress_timeout_s`; None: no limit). A command's
watchdog starts both clocks when the renderer starts; each line of output (progress or log)
restarts the no-progress clock, each frame the renderer finishes restarts the frame clock.
`expired` says, once a limit has run out, which one (and keeps saying it): the slot's side then
stops the renderer's process group and fails its open frames with that reason, worded so that
the server files them under "timeout" (`foxden.core.failures`), which is retried.

The clock is given (`time.monotonic` by default), so that tests move time themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


def seconds(value: object) -> float | None:
    """A time limit as a lease carries it: a positive number of seconds, else no limit."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value > 0 else None


def _words(limit: float) -> str:
    return f"{limit:g} s"


class Watchdog:
    """The time limits of one renderer (one command of a lease)."""

    def __init__(
        self,
        frame_seconds: float | None,
        progress_seconds: float | None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.frame_seconds = frame_seconds
        self.progress_seconds = progress_seconds
        self.clock = clock
        now = clock()
        self._frame_began = now
        self._last_output = now
        self._reason: str | None = None

    @property
    def armed(self) -> bool:
        """Whether there is any limit to watch."""
        return self.frame_seconds is not None or self.progress_seconds is not None

    def output(self) -> None:
        """The renderer printed a line (or made progress): restart the no-progress clock."""
        self._last_output = self.clock()

    def frame_done(self) -> None:
        """The renderer finished a frame: the next frame's render time starts now."""
        now = self.clock()
        self._frame_began = now
        self._last_output = now

    def expired(self) -> str | None:
        """Why the renderer must stop (the first limit that ran out), or None while within.

        The reason follows the program's name in the frame's error: "Blender ran longer than
        ... (timed out)"."""
        if self._reason is not None:
            return self._reason
        now = self.clock()
        frame_limit, quiet_limit = self.frame_seconds, self.progress_seconds
        if frame_limit is not None and now - self._frame_began >= frame_limit:
            self._reason = (
                f"ran longer than the task's time limit of {_words(frame_limit)} for one "
                "frame: stopped (timed out)"
            )
        elif quiet_limit is not None and now - self._last_output >= quiet_limit:
            self._reason = (
                f"made no progress and printed nothing for {_words(quiet_limit)} (the task's "
                "no-progress time limit): stopped (timed out)"
            )
        return self._reason
