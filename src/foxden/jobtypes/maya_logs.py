"""Progress and errors from the output of Maya's `Render`, whichever renderer it runs.

The frame: foxden's own markers, which the `-preFrame`/`-postFrame` MEL hooks of the command
print (`FOXDEN_FRAME_START <frame>`, `FOXDEN_FRAME_END <frame>`), else the renderers' lines that
name a frame or an image (the frame is the number before the image's extension:
`shot.0012.exr` is frame 12). The fraction of a frame and its written images, in these shapes:

| renderer | progress | image written |
|---|---|---|
| Maya Software | `Percentage of rendering done: 40 (<image>)`, `Starting Rendering <image>` | `Finished Rendering <image>` |
| Arnold | `00:00:01 123MB \\| 40% done - 5 rays/pixel`, `... \\| render done` | `[driver_exr] writing file \\`<image>'` |
| V-Ray | `Rendering image...: 40.00%` (any prefix and suffix) | `Successfully written image file "<image>"` |
| Redshift | `Block 12/48 rendered by GPU 0 ...` | `Saved file '<image>'` |
| any | `Rendering frame 12`, `Starting frame 12`, `Preparing scene for frame 12` | |

Errors: `// Error: <text>` (MEL), `Error: <text>`, Arnold's `ERROR | <text>`, V-Ray's
`error: <text>` after a `V-Ray` or `[...]` prefix, `[Redshift] ERROR: <text>` and
`Fatal Error` lines.

A frame is reported done early only when each frame is rendered once (one render layer): once
it ended (its postFrame marker or its image) and another frame begins. Maya renders all frames
of one layer before the next layer, so with several layers, frames are done when `Render` exits
with status 0 (the worker then checks every frame's images).
"""

from __future__ import annotations

import re

from foxden.jobtypes.base import MarkerParser, ProgressEvent

_FRAME_IN_NAME = re.compile(r"[._](-?\d+)\.[A-Za-z0-9]+$")
_FRAME_LINE = re.compile(
    r"\b(?:Rendering|Starting|Preparing scene for)\s+frame[:\s]+(-?\d+)", re.IGNORECASE
)
_SW_START = re.compile(r"^Starting Rendering\s+(.+?)\s*$")
_SW_PERCENT = re.compile(r"^Percentage of rendering done:\s*(\d+(?:\.\d+)?)(?:\s*\((.*)\))?")
_SW_DONE = re.compile(r"^Finished Rendering\s+(.+?)\s*$")
_ARNOLD_PERCENT = re.compile(r"\|\s*(\d+(?:\.\d+)?)% done\b")
_ARNOLD_DONE = re.compile(r"\|\s*render done\b")
_ARNOLD_WRITE = re.compile(r"\[driver_\w+\]\s+writing file [`'\"](.+?)['\"]")
_VRAY_PERCENT = re.compile(r"Rendering image\.*:\s*(\d+(?:\.\d+)?)\s*%")
_VRAY_WRITE = re.compile(r"Successfully written image file\s+[\"'](.+?)[\"']")
_REDSHIFT_BLOCK = re.compile(r"\bBlock\s+(\d+)\s*/\s*(\d+)\s+rendered\b")
_REDSHIFT_WRITE = re.compile(r"\bSaved file\s+'(.+?)'")
_ERRORS = (
    re.compile(r"^//\s*Error:\s*(.*?)\s*(?://)?\s*$"),
    re.compile(r"^Error:\s*(.*)$"),
    re.compile(r"\bERROR\s*\|\s*(.*)$"),
    re.compile(r"(?:V-Ray|^\[[^\]]*\])\s*:?\s*error:\s*(.*)$", re.IGNORECASE),
    re.compile(r"^\[Redshift\]\s*ERROR:?\s*(.*)$"),
    re.compile(r"^(Fatal Error\b.*)$"),
)
MAX_ERRORS = 20


def frame_of(image: str) -> int | None:
    """The frame number of an image path (`shot.0012.exr` -> 12), None when it has none."""
    match = _FRAME_IN_NAME.search(image.strip().rstrip("'\"`"))
    return int(match.group(1)) if match else None


class MayaProgressParser(MarkerParser):
    """Reads `Render`'s output; `layers` is how many times each frame is rendered (the render
    layers of the chunk), None when unknown."""

    def __init__(self, layers: int | None = 1) -> None:
        super().__init__()
        self.layers = layers
        self._ended: set[int] = set()  # frames whose current layer pass ended
        self._passes: dict[int, int] = {}  # layer passes each frame finished
        self._maya_errors: list[str] = []

    @property
    def errors(self) -> list[str]:
        return (self._errors + self._maya_errors)[:MAX_ERRORS]

    def _marker(self, tag: str, rest: str) -> list[ProgressEvent]:
        words = rest.split()
        frame = _int(words[0]) if words else None
        if tag == "FRAME_START" and frame is not None:
            return self._begin(frame)
        if tag == "FRAME_END" and frame is not None:
            return self._end(frame)
        return super()._marker(tag, rest)

    def _other(self, text: str) -> list[ProgressEvent]:
        error = self._error(text)
        if error is not None:
            if error not in self._maya_errors and len(self._maya_errors) < MAX_ERRORS:
                self._maya_errors.append(error)
            return []
        for pattern in (_SW_DONE, _ARNOLD_WRITE, _VRAY_WRITE, _REDSHIFT_WRITE):
            match = pattern.search(text)
            if match:
                frame = frame_of(match.group(1))
                return self._end(frame) if frame is not None else []
        start = _SW_START.match(text)
        if start:
            frame = frame_of(start.group(1))
            return self._begin(frame) if frame is not None else []
        line = _FRAME_LINE.search(text)
        if line:
            return self._begin(int(line.group(1)))
        return self._renderer_progress(text)

    def _renderer_progress(self, text: str) -> list[ProgressEvent]:
        within: float | None = None
        sw = _SW_PERCENT.match(text)
        if sw:
            frame = frame_of(sw.group(2) or "")
            events = self._begin(frame) if frame is not None and frame != self.current else []
            return events + self._within(float(sw.group(1)) / 100)
        for pattern in (_ARNOLD_PERCENT, _VRAY_PERCENT):
            match = pattern.search(text)
            if match:
                within = float(match.group(1)) / 100
                break
        if within is None and _ARNOLD_DONE.search(text):
            within = 1.0
        block = _REDSHIFT_BLOCK.search(text)
        if within is None and block and int(block.group(2)) > 0:
            within = int(block.group(1)) / int(block.group(2))
        return [] if within is None else self._within(within)

    def _within(self, within: float) -> list[ProgressEvent]:
        frame = self.current
        if frame is None:
            return []
        passes = self._passes.get(frame, 0)
        total = self.layers or passes + 1
        return self.progress(frame, (passes + min(max(within, 0.0), 1.0)) / max(total, 1))

    def _begin(self, frame: int) -> list[ProgressEvent]:
        events: list[ProgressEvent] = []
        previous = self.current
        if previous is not None and previous != frame and previous in self._ended:
            self._ended.discard(previous)
            self._passes[previous] = self._passes.get(previous, 0) + 1
            if self.layers == 1:
                events += self.finish(previous)
        if frame in self._ended:  # the same frame again: its next layer
            self._ended.discard(frame)
            self._passes[frame] = self._passes.get(frame, 0) + 1
        self.current = frame
        return events + self._within(0.0)

    def _end(self, frame: int) -> list[ProgressEvent]:
        events = self._begin(frame) if frame != self.current else []
        self._ended.add(frame)
        return events + self._within(0.99)

    @staticmethod
    def _error(text: str) -> str | None:
        for pattern in _ERRORS:
            match = pattern.search(text)
            if match:
                return (match.group(1).strip() or text)[:500]
        return None


def _int(text: str) -> int | None:
    try:
        return int(float(text))
    except ValueError:
        return None
