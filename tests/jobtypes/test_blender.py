"""The Blender job type against the real Blender and real test scenes."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from foxden.jobtypes import Software, detect_software, get_job_type
from tests.jobtypes.conftest import SHOT, Rendered, make_chunk, render

pytestmark = pytest.mark.blender


def pixels(path: Path) -> list[tuple[int, int, int]]:
    with Image.open(path) as img:
        data = img.convert("RGB").tobytes()
    return [(data[i], data[i + 1], data[i + 2]) for i in range(0, len(data), 3)]


def difference(a: Path, b: Path) -> float:
    """Mean absolute channel difference of two images of the same size (0..255)."""
    pa, pb = pixels(a), pixels(b)
    assert len(pa) == len(pb)
    return sum(
        abs(x - y) for p, q in zip(pa, pb, strict=True) for x, y in zip(p, q, strict=True)
    ) / (3 * len(pa))


def red_pixels(path: Path) -> int:
    return sum(1 for r, g, b in pixels(path) if r > 150 and g < 100 and b < 100)


def only_output(rendered: Rendered, frame: int) -> Path:
    outputs = rendered.outputs[frame]
    assert len(outputs) == 1, (outputs, rendered.text)
    return outputs[0]


def assert_ok(rendered: Rendered) -> None:
    assert [r.returncode for r in rendered.results] == [0], rendered.text
    assert not any(r.killed for r in rendered.results)
    job_type = get_job_type("blender")
    for frame in rendered.chunk.frames:
        for path in rendered.outputs[frame]:
            assert job_type.check_output(path) is None


def test_detects_blender() -> None:
    found = [s for s in detect_software() if s.name == "blender"]
    assert len(found) == 1
    assert found[0].version == "3.4.1"
    assert Path(found[0].executable).is_file()
    assert found[0].satisfies("3.4") and not found[0].satisfies("3.6")
    assert Software("command", "1", "") in detect_software()


def test_chunk_renders_every_frame_with_exact_progress(
    render_chunk: Callable[..., Rendered],
) -> None:
    rendered = render_chunk("anim", [1, 3, 5])
    assert_ok(rendered)
    paths = [only_output(rendered, f) for f in (1, 3, 5)]
    assert [p.name for p in paths] == ["anim_0001.png", "anim_0003.png", "anim_0005.png"]
    with Image.open(paths[0]) as img:
        assert img.size == (64, 48)
    # The cube moves: every frame looks different.
    assert difference(paths[0], paths[1]) > 1.0
    assert difference(paths[1], paths[2]) > 1.0
    # Progress: each frame starts at 0, only grows, and ends done, in order.
    assert rendered.done_frames == [1, 3, 5]
    for frame in (1, 3, 5):
        mine = [e for e in rendered.events if e.frame == frame]
        assert mine[0].fraction == 0.0 and not mine[0].done
        assert mine[-1].done and mine[-1].fraction == 1.0
        fractions = [e.fraction for e in mine]
        assert fractions == sorted(fractions)
        assert any(0.0 < f < 1.0 for f in fractions)  # sample lines were understood
    # Both view layers render: halfway through a frame the first layer is finished.
    assert any(abs(e.fraction - 0.5) < 0.01 for e in rendered.events)
    # A frame is reported done right when Blender has written it, before the next one starts.
    done_1 = rendered.lines.index(f"FOXDEN_FRAME_DONE 1 {paths[0]}")
    assert rendered.lines.index("FOXDEN_FRAME_START 3") == done_1 + 1
    assert rendered.parser.errors == []


def test_render_layer_and_camera_change_the_image(
    render_chunk: Callable[..., Rendered],
) -> None:
    layer_a = render_chunk("anim", [2], render_layer="LayerA")
    layer_b = render_chunk("anim", [2], render_layer="LayerB")
    cam_b = render_chunk("anim", [2], render_layer="LayerA", camera="CamB")
    for rendered in (layer_a, layer_b, cam_b):
        assert_ok(rendered)
        assert rendered.done_frames == [2]
    a, b, c = (only_output(r, 2) for r in (layer_a, layer_b, cam_b))
    # LayerB excludes the red ball.
    assert red_pixels(a) > 20
    assert red_pixels(b) == 0
    assert difference(a, c) > 5.0
    # Only the chosen layer renders: one layer per frame in the progress.
    assert "FOXDEN_LAYERS 1" in layer_a.lines


def test_unknown_camera_or_layer_fails_and_names_the_choices(
    render_chunk: Callable[..., Rendered],
) -> None:
    rendered = render_chunk("anim", [1], camera="Nope")
    assert rendered.results[0].returncode != 0
    assert rendered.outputs[1] == []
    assert rendered.parser.errors[0] == (
        "camera 'Nope' not found in scene 'Scene'; its cameras are: CamA, CamB"
    )
    rendered = render_chunk("anim", [1], render_layer="Nope")
    assert rendered.results[0].returncode != 0
    assert "its view layers are: LayerA, LayerB" in rendered.parser.errors[0]


def test_corrupt_blend_fails_with_blenders_message(
    render_chunk: Callable[..., Rendered], tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    (workspace / SHOT).mkdir(parents=True)
    (workspace / SHOT / "broken.blend").write_bytes(b"BLENDER-v304" + bytes(range(256)) * 8)
    rendered = render_chunk("broken", [1], workspace=workspace)
    assert rendered.results[0].returncode != 0
    assert rendered.outputs[1] == [] and rendered.done_frames == []
    assert any("Error:" in line and "broken.blend" in line for line in rendered.lines)
    assert "Blender cannot open" in rendered.parser.errors[0]
    analysis = get_job_type("blender").analyse(
        workspace / SHOT / "broken.blend", "/v/project/shot/broken.blend"
    )
    assert analysis.dependencies == []
    assert len(analysis.warnings) == 1 and "cannot read scene" in analysis.warnings[0]


def test_garbage_file_is_not_a_blend(scene_workspace: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.blend"
    junk.write_bytes(b"\x00garbage" * 100)
    analysis = get_job_type("blender").analyse(junk, "/v/junk.blend")
    assert analysis.dependencies == [] and analysis.warnings == []
    assert analysis.refusal == (
        "scene /v/junk.blend is not a .blend file (it starts with b'\\x00garbage'): "
        "submit the Blender scene itself (upload the .blend first)"
    )
    assert analysis.cameras is None and analysis.frame_range is None  # nothing to check
    missing = get_job_type("blender").analyse(tmp_path / "nope.blend", "/v/nope.blend")
    assert "cannot read scene /v/nope.blend" in missing.warnings[0]


def test_scene_script_error_fails_the_frame(render_chunk: Callable[..., Rendered]) -> None:
    rendered = render_chunk("script_error", [1], allow_scripts=True)
    assert rendered.results[0].returncode != 0
    assert rendered.outputs[1] == [] and rendered.done_frames == []
    assert "boom: the scene script failed" in rendered.parser.errors[0]
    # With the scene's scripts off it renders (and says the scripts did not run).
    rendered = render_chunk("script_error", [1], allow_scripts=True, autoexec=False)
    assert_ok(rendered)
    assert rendered.done_frames == [1]
    assert any("FOXDEN_WARNING" in line and "autoexec" in line for line in rendered.lines)


def test_scene_scripts_run_only_where_the_project_allows_them(
    render_chunk: Callable[..., Rendered],
) -> None:
    # The chunk option alone cannot turn the scene's scripts on.
    rendered = render_chunk("script_error", [1], autoexec=True)
    assert_ok(rendered)
    assert rendered.done_frames == [1]
    assert any("FOXDEN_WARNING" in line and "autoexec" in line for line in rendered.lines)
    for allowed, autoexec, flag in (
        (False, True, "--disable-autoexec"),
        (True, True, "--enable-autoexec"),
        (True, False, "--disable-autoexec"),
    ):
        chunk = make_chunk(
            rendered.chunk.workspace,
            "script_error",
            [1],
            rendered.chunk.output_dir,
            allow_scripts=allowed,
            autoexec=autoexec,
        )
        (command,) = get_job_type("blender").commands(chunk)
        assert flag in command.argv


def test_analyse_lists_dependencies_as_tree_paths(scene_workspace: Path) -> None:
    job_type = get_job_type("blender")
    anim = job_type.analyse(scene_workspace / SHOT / "anim.blend", "/v/project/shot/anim.blend")
    assert anim.dependencies == ["/v/project/shot/tex/checker.png"]
    assert anim.warnings == [] and anim.refusal is None
    # what a submission may choose from: every camera and view layer, the frame range
    assert anim.cameras == ["CamA", "CamB"] and anim.layers == ["LayerA", "LayerB"]
    assert anim.frame_range == (1, 5)
    missing = job_type.analyse(
        scene_workspace / SHOT / "missing_tex.blend", "/v/project/shot/missing_tex.blend"
    )
    assert missing.dependencies == ["/v/project/tex/wood.png"]
    assert missing.warnings == []
    # The same scene stored elsewhere in the tree: relative paths follow it.
    moved = job_type.analyse(scene_workspace / SHOT / "anim.blend", "/x/anim.blend")
    assert moved.dependencies == ["/x/tex/checker.png"]


def test_missing_client_texture_is_found_in_the_workspace(
    render_chunk: Callable[..., Rendered], scene_workspace: Path, tmp_path: Path
) -> None:
    # Without the texture Blender renders its "missing" magenta.
    alone = render_chunk("missing_tex", [1])
    assert_ok(alone)
    assert any("missing file v:" in line for line in alone.lines)
    r, g, b = pixels(only_output(alone, 1))[0]
    assert r > 200 and b > 200 and g < 50
    # With v:\project\tex\wood.png uploaded to /v/project/tex/wood.png, that one is used.
    workspace = tmp_path / "ws"
    (workspace / SHOT).mkdir(parents=True)
    shutil.copy(scene_workspace / SHOT / "missing_tex.blend", workspace / SHOT)
    (workspace / "v/project/tex").mkdir(parents=True)
    Image.new("RGB", (8, 8), (30, 200, 40)).save(workspace / "v/project/tex/wood.png")
    found = render_chunk("missing_tex", [1], workspace=workspace)
    assert_ok(found)
    assert any(line.startswith("FOXDEN_REMAP v:") for line in found.lines)
    r, g, b = pixels(only_output(found, 1))[0]
    assert abs(r - 30) < 8 and abs(g - 200) < 8 and abs(b - 40) < 8


def test_stopping_a_render_kills_blender(scene_workspace: Path, tmp_path: Path) -> None:
    # Many frames, so that Blender is surely still rendering when frame 1's image appears.
    frames = list(range(1, 301))
    chunk = make_chunk(scene_workspace, "anim", frames, tmp_path / "out")
    seen: list[str] = []
    start = time.monotonic()

    def should_stop() -> bool:
        seen.append("poll")
        return (chunk.output_dir / "anim_0001.png").exists()

    rendered = render(chunk, should_stop)
    assert rendered.results[0].killed
    assert rendered.results[0].returncode != 0
    assert 1 in rendered.done_frames and 300 not in rendered.done_frames
    assert rendered.outputs[300] == []
    assert time.monotonic() - start < 30


def test_linked_library_at_a_client_path(
    render_chunk: Callable[..., Rendered], scene_workspace: Path, tmp_path: Path
) -> None:
    scene = scene_workspace / SHOT / "linked.blend"
    analysis = get_job_type("blender").analyse(scene, "/v/project/shot/linked.blend")
    assert analysis.dependencies == ["/v/project/lib/props.blend"]
    assert analysis.cameras is None  # a library may bring cameras: none is refused at submit
    # The library uploaded to its mirrored place is loaded instead of the client path.
    workspace = tmp_path / "ws"
    (workspace / SHOT).mkdir(parents=True)
    (workspace / "v/project/lib").mkdir(parents=True)
    shutil.copy(scene, workspace / SHOT)
    shutil.copy(scene_workspace / SHOT / "lib/props.blend", workspace / "v/project/lib")
    rendered = render_chunk("linked", [1], workspace=workspace)
    assert_ok(rendered)
    assert "FOXDEN_REMAP v:/project/lib/props.blend -> " in rendered.text
    r, g, b = pixels(only_output(rendered, 1))[0]
    assert g > 200 and r < 120 and b < 120  # the library's green board fills the view
