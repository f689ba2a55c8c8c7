"""The order a task's frames are claimed in (`frames.seq`), chosen at submit.

`first_last_middle` (the default for new tasks): the first, the last and the middle frame go
first, so a broken setup (a missing texture at the end of a shot, a camera cut in the middle)
shows within the first few frames; then the rest in frame order. `in_order`: frame order.
"""

from __future__ import annotations

from typing import Literal

FrameOrder = Literal["first_last_middle", "in_order"]
FRAME_ORDERS: tuple[FrameOrder, ...] = ("first_last_middle", "in_order")
DEFAULT_ORDER: FrameOrder = "first_last_middle"


def sequence(numbers: list[int], order: FrameOrder) -> dict[int, int]:
    """`frames.seq` of each frame number (claims take the lowest seq first)."""
    ranked = sorted(numbers)
    if order == "first_last_middle" and len(ranked) > 2:
        first = [ranked[0], ranked[-1], ranked[(len(ranked) - 1) // 2]]
        ahead = list(dict.fromkeys(first))
        rest = [n for n in ranked if n not in set(ahead)]
        ranked = ahead + rest
    return {number: seq for seq, number in enumerate(ranked)}
