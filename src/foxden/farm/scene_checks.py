"""What a submission asks of its scene, checked against what analysis read of it.

A choice the scene cannot satisfy (a camera or view layer it lacks, a file that is not the
software's scene at all) is refused before any task exists: each frame would fail the same way.
What may be meant (frames outside the scene's range) or may be uploaded later (missing
textures and caches) is a warning, which `strict` turns into a refusal for missing files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from foxden.errors import BadRequest
from foxden.jobtypes.base import Analysis

#: how many names a message lists before it says how many more there are
SHOWN = 20


def names(items: Sequence[str], shown: int = SHOWN) -> str:
    """'a, b, c' (at most `shown` of them, then how many more)."""
    text = ", ".join(items[:shown])
    if len(items) > shown:
        text += f" and {len(items) - shown} more"
    return text


def runs(numbers: Sequence[int]) -> str:
    """Frame numbers as people write them: '6-8,12' (at most SHOWN runs, then how many more)."""
    parts: list[list[int]] = []
    for n in sorted(set(numbers)):
        if parts and n == parts[-1][1] + 1:
            parts[-1][1] = n
        else:
            parts.append([n, n])
    return names([f"{a}-{b}" if a != b else str(a) for a, b in parts]).replace(", ", ",")


def check_choices(
    analysis: Analysis, scene_path: str, camera: str, layer: str, numbers: Sequence[int]
) -> list[str]:
    """Refuse (400) a scene that is not one, a camera or view layer the scene lacks; return
    the warnings (frames outside the scene's range)."""
    scene = PurePosixPath(scene_path).name
    if analysis.refusal:
        raise BadRequest(analysis.refusal)
    if camera and analysis.cameras is not None and camera not in analysis.cameras:
        if analysis.cameras:
            choices = f"its cameras are {names(analysis.cameras)}"
        else:
            choices = "it has no camera"
        raise BadRequest(
            f"camera {camera!r} is not in {scene}: {choices} (leave the camera out to render "
            "with the scene's own)"
        )
    if layer and analysis.layers is not None and layer not in analysis.layers:
        raise BadRequest(
            f"view layer {layer!r} (render_layer) is not in {scene}: its view layers are "
            f"{names(analysis.layers)} (leave it out to render the layers the scene uses)"
        )
    if analysis.frame_range is None:
        return []
    first, last = analysis.frame_range
    outside = [n for n in numbers if not first <= n <= last]
    if not outside:
        return []
    span = f"frames {first}-{last}" if first != last else f"frame {first} only"
    return [
        f"frames {runs(outside)} are outside the frame range of {scene} "
        f"({span}): they render all the same, showing the scene as it is at "
        "those frames"
    ]


def missing_files(missing: Sequence[str], *, strict: bool) -> list[str]:
    """The warnings for files the scene uses that were never uploaded; with `strict`, a 400
    naming them instead."""
    if not missing:
        return []
    if strict:
        raise BadRequest(
            f"the scene uses {len(missing)} file(s) that were never uploaded: "
            f"{names(missing)}; upload them (or submit without strict to render without them)"
        )
    return [
        f"missing file {path}: the scene uses it but it was not uploaded; upload it and "
        "restart the task"
        for path in missing
    ]
