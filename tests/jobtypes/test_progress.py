"""Progress parsers on output captured from Blender 3.4.1 and on foxden's markers."""

from __future__ import annotations

from foxden.jobtypes import MarkerParser, ProgressEvent
from foxden.jobtypes.base import readable_line
from foxden.jobtypes.blender import BlenderProgressParser

# Captured from `foxden_render.py` rendering anim.blend frame 1 (two view layers), trimmed.
TWO_LAYERS = """\
Blender 3.4.1
Read blend: /tmp/scn/v/project/shot/anim.blend
FOXDEN_LAYERS 2
FOXDEN_LOADED /tmp/scn/v/project/shot/anim.blend
FOXDEN_FRAME_START 1
Fra:1 Mem:9.07M (Peak 9.11M) | Time:00:00.00 | Mem:0.00M, Peak:0.00M | Scene, LayerA | Synchronizing object | Cube
Fra:1 Mem:9.13M (Peak 9.14M) | Time:00:00.00 | Mem:0.00M, Peak:0.00M | Scene, LayerA | Initializing
Fra:1 Mem:9.90M (Peak 10.16M) | Time:00:00.11 | Mem:0.92M, Peak:0.92M | Scene, LayerA | Sample 0/4
Fra:1 Mem:9.96M (Peak 10.16M) | Time:00:00.00 | Remaining:00:00.00 | Mem:0.98M, Peak:0.98M | Scene, LayerA | Sample 1/4
Fra:1 Mem:10.05M (Peak 10.16M) | Time:00:00.12 | Mem:0.98M, Peak:0.98M | Scene, LayerA | Sample 4/4
Fra:1 Mem:10.05M (Peak 10.16M) | Time:00:00.12 | Mem:0.98M, Peak:0.98M | Scene, LayerA | Finished
Fra:1 Mem:9.88M (Peak 10.32M) | Time:00:00.12 | Mem:0.76M, Peak:0.76M | Scene, LayerB | Sample 0/4
Fra:1 Mem:9.93M (Peak 10.32M) | Time:00:00.00 | Remaining:00:00.00 | Mem:0.82M, Peak:0.82M | Scene, LayerB | Sample 1/4
Fra:1 Mem:9.93M (Peak 10.32M) | Time:00:00.13 | Mem:0.82M, Peak:0.82M | Scene, LayerB | Sample 4/4
Fra:1 Mem:9.93M (Peak 10.32M) | Time:00:00.13 | Mem:0.82M, Peak:0.82M | Scene, LayerB | Finished
Saved: '/tmp/out/anim_0001.png'
 Time: 00:00.41 (Saving: 00:00.29)

FOXDEN_FRAME_DONE 1 /tmp/out/anim_0001.png
FOXDEN_FRAME_START 2
Fra:2 Mem:9.90M (Peak 10.16M) | Time:00:00.11 | Mem:0.92M, Peak:0.92M | Scene, LayerA | Sample 0/4
"""


def feed_all(parser: MarkerParser, text: str) -> list[ProgressEvent]:
    events: list[ProgressEvent] = []
    for line in text.splitlines():
        events.extend(parser.feed(line))
    return events


def test_two_view_layers_make_one_frame_fraction() -> None:
    events = feed_all(BlenderProgressParser(), TWO_LAYERS)
    assert events == [
        ProgressEvent(1, 0.0, False),
        ProgressEvent(1, 0.125, False),  # layer A, sample 1 of 4
        ProgressEvent(1, 0.5, False),  # layer A finished
        ProgressEvent(1, 0.625, False),  # layer B, sample 1 of 4
        ProgressEvent(1, 0.99, False),  # layer B finished: written only at FRAME_DONE
        ProgressEvent(1, 1.0, True),
        ProgressEvent(2, 0.0, False),
    ]


def test_plain_blender_output_is_done_when_saved() -> None:
    """Without foxden's markers (e.g. `blender -b x.blend -f 1`), `Saved:` ends a frame."""
    text = "\n".join(line for line in TWO_LAYERS.splitlines() if not line.startswith("FOXDEN_"))
    events = feed_all(BlenderProgressParser(), text)
    assert [e for e in events if e.done] == [ProgressEvent(1, 1.0, True)]
    # Without the layer count the first layer looks like the whole frame; never backwards.
    assert [e.fraction for e in events if e.frame == 1] == [0.0, 0.25, 0.99, 1.0]


def test_eevee_and_tiles() -> None:
    parser = BlenderProgressParser()
    parser.feed("FOXDEN_FRAME_START 7")
    assert parser.feed("Fra:7 Mem:12.3M (Peak 12.9M) | Time:00:00.48 | Rendering 16 / 64 samples") == [
        ProgressEvent(7, 0.25, False)
    ]  # fmt: skip
    parser = BlenderProgressParser()
    line = "Fra:3 Mem:1M | Time:00:01.00 | Mem:1M, Peak:1M | Scene, VL | Rendered 2/4 Tiles, Sample 32/64"
    assert parser.feed(line) == [ProgressEvent(3, 0.375, False)]


def test_done_only_once_and_never_backwards() -> None:
    parser = BlenderProgressParser()
    parser.feed("FOXDEN_FRAME_START 4")
    parser.feed("Fra:4 Mem:1M | Time:0 | Mem:1M, Peak:1M | Scene, VL | Sample 8/10")
    assert parser.feed("Fra:4 Mem:1M | Time:0 | Mem:1M, Peak:1M | Scene, VL | Sample 2/10") == []
    assert parser.feed("FOXDEN_FRAME_DONE 4 /o/x_0004.png") == [ProgressEvent(4, 1.0, True)]
    assert parser.feed("FOXDEN_FRAME_DONE 4 /o/x_0004.png") == []
    assert parser.feed("FOXDEN_FRAME_START 4") == []


def test_errors_are_collected() -> None:
    parser = BlenderProgressParser()
    feed_all(
        parser,
        "Error: File format is not supported in file '/w/a.blend'\n"
        "FOXDEN_ERROR Blender cannot open /w/a.blend: Error: File format is not supported\n"
        "Writing: /tmp/a.crash.txt\n",
    )
    assert parser.errors == [
        "Blender cannot open /w/a.blend: Error: File format is not supported",
        "Error: File format is not supported in file '/w/a.blend'",
        "Blender crashed",  # its report is in the sandbox's /tmp, gone with it
    ]


def test_the_log_a_user_reads_leaves_progress_markers_out() -> None:
    assert readable_line("FOXDEN_FRAME_START 4") is None
    assert readable_line("FOXDEN_PROGRESS 4 0.5") is None
    assert readable_line("FOXDEN_FRAME_DONE 4 /o/x_0004.png") is None
    assert readable_line("  FOXDEN_LAYERS 2") is None
    assert readable_line("FOXDEN_WARNING missing file v:/p/a.png") == (
        "foxden: warning: missing file v:/p/a.png"
    )
    assert readable_line("FOXDEN_ERROR camera 'X' not found") == (
        "foxden: error: camera 'X' not found"
    )
    assert readable_line("FOXDEN_REMAP v:\\p\\a.png -> /w/tree/v/p/a.png") == (
        "foxden: found v:\\p\\a.png at /w/tree/v/p/a.png"
    )
    assert readable_line("Fra:1 Mem:12M | Sample 1/4") == "Fra:1 Mem:12M | Sample 1/4"
    assert readable_line("FOXDEN is great") == "FOXDEN is great"


def test_generic_markers() -> None:
    parser = MarkerParser()
    assert feed_all(
        parser,
        "hello\nFOXDEN_FRAME_START 10\nFOXDEN_PROGRESS 10 0.5\nFOXDEN_PROGRESS 10 0.504\n"
        "FOXDEN_PROGRESS 10 bad\nFOXDEN_FRAME_DONE 10\nFOXDEN_FRAME_DONE x\n",
    ) == [
        ProgressEvent(10, 0.0, False),
        ProgressEvent(10, 0.5, False),
        ProgressEvent(10, 1.0, True),
    ]
