"""The vendor's frame-spec grammar: `1-10[1]`, `1,2,3`, `1,20-30[2],494`.

A spec is comma-separated items; each is a frame `N`, a range `A-B` or a stepped range `A-B[S]`.
`parse` gives the sorted, de-duplicated frame numbers; `format` gives the shortest spec back;
`chunks` splits frames into consecutive runs for the scheduler.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from foxden.errors import BadRequest, quote

MAX_FRAMES = 100_000
_ITEM = re.compile(r"^(-?\d+)(?:-(-?\d+)(?:\[(-?\d+)\])?)?$")


class FrameSpecError(BadRequest):
    """The frame spec is malformed."""


def parse(spec: str, max_frames: int = MAX_FRAMES) -> list[int]:
    """Parse a frame spec into sorted unique frame numbers, naming the bad part on error."""
    if not isinstance(spec, str) or not spec.strip():
        raise FrameSpecError("frame spec is empty: write frames like '1-10[1]' or '1,2,3'")
    frames: set[int] = set()
    for raw in spec.split(","):
        item = raw.strip().replace(" ", "")
        if not item:
            raise FrameSpecError(f"frame spec {quote(spec)} has an empty item between commas")
        match = _ITEM.match(item)
        if not match:
            raise FrameSpecError(
                f"frame spec item {quote(item)} is not a frame 'N', a range 'A-B' or 'A-B[S]'"
            )
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) is not None else start
        step = int(match.group(3)) if match.group(3) is not None else 1
        if start < 0 or end < 0:
            raise FrameSpecError(f"frame spec item {quote(item)} has a negative frame")
        if end < start:
            raise FrameSpecError(
                f"frame spec item {quote(item)} is a descending range: write {end}-{start}"
            )
        if step <= 0:
            raise FrameSpecError(
                f"frame spec item {quote(item)} has step {step}: the step must be 1 or more"
            )
        count = (end - start) // step + 1
        if len(frames) + count > max_frames:
            raise FrameSpecError(
                f"frame spec item {quote(item)} makes more than {max_frames:,} frames: split the task"
            )
        frames.update(range(start, end + 1, step))
        if len(frames) > max_frames:
            raise FrameSpecError(f"frame spec {quote(spec)} has more than {max_frames:,} frames")
    return sorted(frames)


def format(frames: Iterable[int]) -> str:
    """The compact vendor spec of a set of frames: runs with a common step become `A-B[S]`."""
    ordered = sorted(set(frames))
    if not ordered:
        raise FrameSpecError("no frames to format")
    items: list[str] = []
    i = 0
    n = len(ordered)
    while i < n:
        if i + 2 < n:
            step = ordered[i + 1] - ordered[i]
            j = i + 1
            while j + 1 < n and ordered[j + 1] - ordered[j] == step:
                j += 1
            ranged = f"{ordered[i]}-{ordered[j]}[{step}]"
            if j - i >= 2 and len(ranged) <= len(",".join(map(str, ordered[i : j + 1]))):
                items.append(ranged)
                i = j + 1
                continue
        items.append(str(ordered[i]))
        i += 1
    return ",".join(items)


def chunks(frames: Sequence[int], size: int) -> list[list[int]]:
    """Split frames (in order) into chunks of at most `size` frames."""
    if size < 1:
        raise FrameSpecError(f"chunk size {size} must be 1 or more")
    return [list(frames[i : i + size]) for i in range(0, len(frames), size)]
