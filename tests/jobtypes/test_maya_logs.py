"""Progress and errors read from `Render`'s output: excerpts in the line shapes each renderer
prints (written here for the tests, in the shapes docs/jobtypes.md lists), and how the farm
classifies the failures they report."""

from __future__ import annotations

import pytest

from foxden.core.failures import Category, classify
from foxden.jobtypes.base import ProgressEvent
from foxden.jobtypes.maya_logs import MayaProgressParser, frame_of


def feed(parser: MayaProgressParser, text: str) -> list[ProgressEvent]:
    events: list[ProgressEvent] = []
    for line in text.strip("\n").splitlines():
        events += parser.feed(line)
    return events


def done(events: list[ProgressEvent]) -> list[int]:
    return [e.frame for e in events if e.done]


def fractions(events: list[ProgressEvent], frame: int) -> list[float]:
    return [round(e.fraction, 2) for e in events if e.frame == frame and not e.done]


MAYA_SOFTWARE = """
Starting Rendering /out/lgt.0001.iff
Percentage of rendering done: 10 (/out/lgt.0001.iff)
Percentage of rendering done: 40 (/out/lgt.0001.iff)
Percentage of rendering done: 100 (/out/lgt.0001.iff)
Finished Rendering /out/lgt.0001.iff
Starting Rendering /out/lgt.0002.iff
Percentage of rendering done: 40 (/out/lgt.0002.iff)
Finished Rendering /out/lgt.0002.iff
"""

ARNOLD = """
FOXDEN_FRAME_START 10
00:00:00   512MB         | starting render of 320x240
00:00:01   530MB         |     0% done - 5 rays/pixel
00:00:02   540MB         |    40% done - 5 rays/pixel
00:00:03   545MB         |   100% done - 5 rays/pixel
00:00:03   545MB         | render done in 0:02.400
00:00:03   545MB         | [driver_exr] writing file `/out/lgt.0010.exr'
FOXDEN_FRAME_END 10.0
FOXDEN_FRAME_START 11
00:00:04   545MB         |    40% done - 5 rays/pixel
"""

VRAY = """
Rendering frame 5
[2024/Jan/10|10:00:01] V-Ray: Rendering image...:  10.00% [ 0h  0m  1.0s] [ 0h  0m  9.0s est]
[2024/Jan/10|10:00:02] V-Ray: Rendering image...:  40.00% [ 0h  0m  2.0s] [ 0h  0m  3.0s est]
[2024/Jan/10|10:00:05] V-Ray: Successfully written image file "/out/lgt.0005.exr"
Rendering frame 6
"""

REDSHIFT = """
Rendering frame 3
[Redshift] Block 12/48 rendered by GPU 0, 1.5ms
[Redshift] Block 24/48 rendered by GPU 0, 1.5ms
[Redshift] Saved file '/out/lgt.0003.exr' in 0.02s
Rendering frame 4
[Redshift] Block 48/48 rendered by GPU 0, 1.5ms
"""


def test_maya_software_lines() -> None:
    events = feed(MayaProgressParser(1), MAYA_SOFTWARE)
    assert fractions(events, 1) == [0.0, 0.1, 0.4, 0.99]
    assert done(events) == [1]  # frame 2 is done when Render exits with status 0
    assert fractions(events, 2) == [0.0, 0.4, 0.99]


def test_arnold_lines_with_the_frame_markers() -> None:
    events = feed(MayaProgressParser(1), ARNOLD)
    assert fractions(events, 10) == [0.0, 0.4, 0.99]
    assert done(events) == [10] and fractions(events, 11) == [0.0, 0.4]
    assert "FOXDEN" not in str(MayaProgressParser(1).errors)


def test_vray_lines() -> None:
    events = feed(MayaProgressParser(1), VRAY)
    assert fractions(events, 5) == [0.0, 0.1, 0.4, 0.99]
    assert done(events) == [5]


def test_redshift_lines() -> None:
    events = feed(MayaProgressParser(1), REDSHIFT)
    assert fractions(events, 3) == [0.0, 0.25, 0.5, 0.99]
    assert done(events) == [3] and fractions(events, 4) == [0.0, 0.99]


def test_several_layers_run_through_the_frames_in_turn() -> None:
    """Maya renders every frame of one layer, then the next layer: no frame is done early, and
    a frame's fraction runs through its layers."""
    text = """
FOXDEN_FRAME_START 1
00:00:01 100MB | 50% done - 1 rays/pixel
FOXDEN_FRAME_END 1
FOXDEN_FRAME_START 2
FOXDEN_FRAME_END 2
FOXDEN_FRAME_START 1
00:00:01 100MB | 50% done - 1 rays/pixel
FOXDEN_FRAME_END 1
FOXDEN_FRAME_START 2
"""
    events = feed(MayaProgressParser(2), text)
    assert done(events) == []
    assert fractions(events, 1) == [0.0, 0.25, 0.49, 0.75, 0.99]  # half, then the second half
    unknown = feed(MayaProgressParser(None), text)
    assert done(unknown) == []


ERRORS = """
// Warning: file: /out/lgt.ma line 40: Unrecognized node type 'aiOptions' //
// Error: file: /tree/v/project/shot/lgt.ma line 12: Cannot find camera 'camera9' //
Error: Scene /tree/v/project/shot/lgt.ma failed to render.
00:00:00   300MB ERROR  | [texturesys] unable to open file /tree/v/tex/wood.tx
[2024/Jan/10|10:00:01] V-Ray: error: Could not load file "/tree/v/tex/wood.png"
[Redshift] ERROR: Out of VRAM: try lowering the texture cache size
Fatal Error. Attempting to save in /tmp/lgt.0001.ma
"""


def test_errors_of_each_renderer_in_order() -> None:
    parser = MayaProgressParser(1)
    assert feed(parser, ERRORS) == []
    assert parser.errors == [
        "file: /tree/v/project/shot/lgt.ma line 12: Cannot find camera 'camera9'",
        "Scene /tree/v/project/shot/lgt.ma failed to render.",
        "[texturesys] unable to open file /tree/v/tex/wood.tx",
        'Could not load file "/tree/v/tex/wood.png"',
        "Out of VRAM: try lowering the texture cache size",
        "Fatal Error. Attempting to save in /tmp/lgt.0001.ma",
    ]
    feed(parser, ERRORS)
    assert len(parser.errors) == 6  # each once


@pytest.mark.parametrize(
    ("error", "category"),
    [
        ("Cannot find camera 'camera9'", Category.BAD_CAMERA_OR_LAYER),
        ('Camera "camera9" does not exist', Category.BAD_CAMERA_OR_LAYER),
        ("Invalid render layer: fg", Category.BAD_CAMERA_OR_LAYER),
        ("Warning: No renderable cameras found", Category.BAD_CAMERA_OR_LAYER),
        ('Could not open file "v:/tex/wood.png"', Category.MISSING_INPUT),
        ("[texturesys] unable to open file /tree/v/tex/wood.tx", Category.MISSING_INPUT),
        ('Could not load file "/tree/v/tex/wood.png"', Category.MISSING_INPUT),
        ("Reference file not found: v:/project/asset/chr.ma", Category.MISSING_INPUT),
        ("Out of VRAM: try lowering the texture cache size", Category.UNKNOWN),
        ("Fatal Error. Attempting to save in /tmp/lgt.0001.ma", Category.UNKNOWN),
    ],
)
def test_failures_are_classified(error: str, category: Category) -> None:
    assert classify(f"Render exited with status 1: {error}") == category


def test_frame_of_an_image_name() -> None:
    assert frame_of("/out/ball/lgt.0012.exr") == 12
    assert frame_of("lgt_0007.png") == 7
    assert frame_of("lgt.-003.png") == -3
    assert frame_of("/out/lgt.exr") is None
