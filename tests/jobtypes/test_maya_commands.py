"""The maya job type on a render node: finding Maya's `Render`, the command lines it builds per
renderer and run of frames, the dirmap of the scene's paths, and a chunk rendered for real by
the Render STAND-IN (tests/jobtypes/maya_standin.py: not Maya, which cannot run here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from foxden.core.failures import Category, classify
from foxden.errors import BadRequest, FoxdenError
from foxden.jobtypes import ChunkSpec, Software, detect_software, get_job_type
from foxden.jobtypes.maya import MayaJobType, dirmap_pairs, find_render
from foxden.jobtypes.maya_logs import MayaProgressParser
from foxden.worker.process import run_process
from foxden.worker.settings import WorkerSettings
from tests.jobtypes.maya_files import MaScene, chunk, group
from tests.jobtypes.maya_standin import install_standin, png

MAYA = MayaJobType()


def test_detect_a_given_render_or_install_folder(tmp_path: Path) -> None:
    exe = install_standin(tmp_path)
    expected = [Software("maya", "2024", str(exe.resolve()))]
    assert MAYA.detect(str(exe)) == expected
    assert MAYA.detect(str(tmp_path / "maya2024")) == expected  # the install folder
    assert MAYA.detect(str(tmp_path / "nowhere")) == []


def test_detect_on_path_only_maya_render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "tools" / "bin" / "Render"  # some other program called Render
    other.parent.mkdir(parents=True)
    other.write_text("#!/bin/sh\n")
    other.chmod(0o755)
    monkeypatch.setenv("PATH", str(other.parent))
    assert find_render() is None and MAYA.detect() == []
    # beside Maya's own programs, its version from `maya -v`
    autodesk = tmp_path / "autodesk" / "bin"
    autodesk.mkdir(parents=True)
    for name, body in (("Render", ""), ("maya", 'echo "Maya 2025.1, Cut Number 202403010000"')):
        (autodesk / name).write_text(f"#!/bin/sh\n{body}\n")
        (autodesk / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{autodesk}{os.pathsep}{other.parent}")
    assert MAYA.detect() == [Software("maya", "2025.1", str((autodesk / "Render").resolve()))]


@pytest.fixture
def lease(tmp_path: Path) -> Path:
    """A lease folder whose tree holds a Windows client's project and a Linux client's file."""
    tree = tmp_path / "lease" / "tree"
    for rel in ("v/project/asset/sourceimages/wood.png", "home/ana/tex/a.png", "srv/lib/b.png"):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(b"x")
    return tree


def make_chunk(
    tree: Path,
    scene: MaScene,
    frames: list[int],
    out: Path,
    exe: Path | None = None,
    layer: str | None = None,
    camera: str | None = None,
    scene_rel: str = "v/project/scenes/lgt.ma",
    **options: object,
) -> ChunkSpec:
    path = scene.write(tree / scene_rel)
    soft = Software("maya", "2024", str(exe)) if exe else Software("maya", "2024", "/m/bin/Render")
    return ChunkSpec(1, path, path.stem, frames, layer, camera, dict(options), out, tree, soft)


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


@pytest.mark.parametrize(
    ("scene_renderer", "option", "expected"),
    [
        ("mayaSoftware", None, "sw"),
        ("arnold", None, "arnold"),
        ("vray", None, "vray"),
        ("redshift", None, "redshift"),
        ("mayaHardware2", None, "hw2"),
        ("someRenderer", None, "file"),
        ("mayaSoftware", "arnold", "arnold"),
        ("arnold", "Redshift", "redshift"),
    ],
)
def test_command_line_per_renderer(
    lease: Path, tmp_path: Path, scene_renderer: str, option: str | None, expected: str
) -> None:
    chunk = make_chunk(lease, MaScene(renderer=scene_renderer), [1, 2, 3], tmp_path / "o")
    if option:
        chunk.options["renderer"] = option
    (command,) = MAYA.commands(chunk)
    assert command.argv[:3] == ["/m/bin/Render", "-r", expected]
    assert command.argv[-1] == str(chunk.scene_path)
    assert [flag(command.argv, f) for f in ("-s", "-e", "-b")] == ["1", "3", "1"]


def test_command_lines_per_run_with_camera_layer_and_folders(lease: Path, tmp_path: Path) -> None:
    scene = MaScene(setup_layers=["beauty"], prefix="<RenderLayer>/<Scene>")
    (lease / "v/project/workspace.mel").write_text('workspace -fr "images" "images";\n')
    out = tmp_path / "out"
    chunk = make_chunk(lease, scene, [1, 2, 3, 7, 9], out, layer="beauty", camera="persp")
    first, second = MAYA.commands(chunk)
    assert [flag(first.argv, f) for f in ("-s", "-e", "-b")] == ["1", "3", "1"]
    assert [flag(second.argv, f) for f in ("-s", "-e", "-b")] == ["7", "9", "2"]
    assert first.frames == [1, 2, 3] and second.frames == [7, 9]
    argv = first.argv
    assert flag(argv, "-rl") == "rs_beauty"  # a Render Setup layer's node
    assert flag(argv, "-cam") == "persp"
    assert flag(argv, "-proj") == str(lease / "v/project")  # where workspace.mel is
    assert flag(argv, "-rd") == str(out) and out.is_dir()
    assert flag(argv, "-im") == "<RenderLayer>/<Scene>"  # the scene's own prefix
    assert flag(argv, "-pad") == "4"
    assert "FOXDEN_FRAME_START" in flag(argv, "-preFrame")
    assert "FOXDEN_FRAME_END" in flag(argv, "-postFrame")
    mel = flag(argv, "-preRender")
    assert mel.startswith("dirmap -en true;")
    assert f'dirmap -m "v:/" "{lease}/v/";' in mel and f'dirmap -m "V:/" "{lease}/v/";' in mel
    assert f'dirmap -m "/home/ana/" "{lease}/home/ana/";' in mel  # a POSIX client's folders
    assert f'dirmap -m "//srv/" "{lease}/srv/";' in mel  # a UNC server
    setup = Path(first.env["MAYA_SCRIPT_PATH"])
    assert (setup / "userSetup.mel").read_text().strip() == mel  # before the scene opens
    assert setup in first.read_only and Path("/m") in first.read_only  # the install folder
    assert first.env["MAYA_DISABLE_CIP"] == "1"


def test_prefix_project_and_layer_defaults(lease: Path, tmp_path: Path) -> None:
    absolute = MaScene(prefix="c:/renders/<Scene>")
    chunk = make_chunk(lease, absolute, [5], tmp_path / "o", scene_rel="v/project/shot/lgt.ma")
    (command,) = MAYA.commands(chunk)
    assert flag(command.argv, "-im") == "lgt"  # a prefix outside the output folder: replaced
    assert flag(command.argv, "-proj") == str(lease / "v/project/shot")
    assert "-cam" not in command.argv and "-rl" not in command.argv
    master = make_chunk(lease, MaScene(), [5], tmp_path / "o", layer="masterLayer")
    assert flag(MAYA.commands(master)[0].argv, "-rl") == "defaultRenderLayer"
    given = make_chunk(lease, MaScene(), [5], tmp_path / "o", image_prefix="beauty/<Scene>")
    assert flag(MAYA.commands(given)[0].argv, "-im") == "beauty/<Scene>"


def test_bad_options_and_no_maya(
    lease: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunk = make_chunk(lease, MaScene(), [1], tmp_path / "o", renderer="povray")
    with pytest.raises(BadRequest, match="unknown Maya renderer 'povray': known renderers are"):
        MAYA.commands(chunk)
    monkeypatch.setenv("PATH", str(tmp_path))
    bare = make_chunk(lease, MaScene(), [1], tmp_path / "o")
    bare.software = None
    with pytest.raises(FoxdenError, match="start the worker with --maya PATH"):
        MAYA.commands(bare)


def test_dirmap_names_each_top_folder_once(tmp_path: Path) -> None:
    (tmp_path / "q").mkdir()
    (tmp_path / "usr" / "share").mkdir(parents=True)
    assert dirmap_pairs(tmp_path) == [
        ("q:/", f"{tmp_path}/q/"),
        ("Q:/", f"{tmp_path}/q/"),
        ("//usr/", f"{tmp_path}/usr/"),  # a system folder: only as a UNC server
    ]


def render(chunk: ChunkSpec) -> tuple[list[int], list[int], MayaProgressParser]:
    """Run the chunk's commands as the worker does (without its sandbox); the frames the
    parser reported done and the exit statuses."""
    job = get_job_type("maya")
    parser = job.progress_parser(chunk)
    assert isinstance(parser, MayaProgressParser)
    done: list[int] = []
    statuses = []
    for command in job.commands(chunk):
        result = run_process(
            command.argv,
            command.cwd,
            {**command.env, "PATH": "/usr/bin:/bin"},
            lambda line: done.extend(e.frame for e in parser.feed(line) if e.done),
            inherit_env=False,
        )
        statuses.append(result.returncode)
    return done, statuses, parser


def test_standin_renders_a_chunk_and_outputs_are_found_and_checked(
    lease: Path, tmp_path: Path
) -> None:
    exe = install_standin(tmp_path / "install")
    scene = MaScene(
        textures=["v:/project/asset/sourceimages/wood.png", "//srv/lib/b.png"],
        cameras=[("persp", True), ("camera1", True)],
        legacy_layers=[("ball", True)],
    )
    out = tmp_path / "out"
    chunk = make_chunk(lease, scene, [1, 2, 3], out, exe, layer="ball", camera="camera1")
    done, statuses, parser = render(chunk)
    assert statuses == [0] and parser.errors == []
    assert done == [1, 2]  # frame 3 is done when Render exits with status 0
    for frame in (1, 2, 3):
        (image,) = MAYA.outputs_for(chunk, frame)
        assert image == out / f"lgt.{frame:04d}.png" and MAYA.check_output(image) is None
    (out / "lgt.0002.png").write_bytes(b"\x89PNG\r\n\x1a\ncut short")
    assert "not a readable image" in str(MAYA.check_output(out / "lgt.0002.png"))
    assert MAYA.outputs_for(chunk, 4) == []


def test_standin_fails_on_a_texture_the_dirmap_cannot_find(lease: Path, tmp_path: Path) -> None:
    exe = install_standin(tmp_path / "install")
    scene = MaScene(textures=["v:/project/asset/sourceimages/gone.png"])
    chunk = make_chunk(lease, scene, [1], tmp_path / "out", exe)
    done, statuses, parser = render(chunk)
    assert done == [] and statuses == [1]
    assert parser.errors[0].startswith('Could not open file "v:/project/asset/sourceimages/gone')
    error = "Render exited with status 1: " + "\n".join(parser.errors)
    assert classify(error) == Category.MISSING_INPUT


def test_worker_settings_name_the_configured_programs(tmp_path: Path) -> None:
    exe = install_standin(tmp_path)
    settings = WorkerSettings(
        server="http://farm", join_key="k", cache_dir=tmp_path / "c", maya=exe.parent.parent
    )
    assert settings.configured_software() == {"maya": str(exe.parent.parent)}
    found = [s for s in detect_software(settings.configured_software()) if s.name == "maya"]
    assert found == [Software("maya", "2024", str(exe.resolve()))]


def test_maya_iff_images_are_checked_by_header_and_size(tmp_path: Path) -> None:
    body = b"CIMG" + chunk(b"TBHD", b"\0" * 32) + chunk(b"RGBA", b"\x80" * 64)
    image = tmp_path / "lgt.0001.iff"
    image.write_bytes(group(b"FOR4", body[:4], [body[4:]]))
    assert MAYA.check_output(image) is None
    image.write_bytes(image.read_bytes()[:-20])
    assert "truncated Maya IFF image" in str(MAYA.check_output(image))
    png_file = tmp_path / "lgt.0002.png"
    png_file.write_bytes(png(8, 8, (1, 2, 3)))
    assert MAYA.check_output(png_file) is None
    assert "is missing" in str(MAYA.check_output(tmp_path / "lgt.0003.png"))
