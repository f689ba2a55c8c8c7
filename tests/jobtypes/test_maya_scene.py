"""Maya scene analysis without Maya: real .ma files (MEL) and .mb files (IFF chunks) that the
tests write, read by the maya job type; and what a submission to a real server makes of it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from foxden.client.api import Client
from foxden.errors import BadRequest
from foxden.jobtypes import get_job_type
from foxden.jobtypes.maya_scene import MAX_LINE, MAX_STATEMENT, iff_chunks, read_scene
from tests.conftest import LiveServer
from tests.farmkit import register_worker, upload
from tests.jobtypes.maya_files import MaScene, chunk, group, write_mb

TEX = "v:/project/asset/sourceimages"


def lgt() -> MaScene:
    """The seed's lighting scene: layers, cameras, textures on Windows paths, a reference, an
    Alembic cache, a GPU cache, an image plane sequence, a UDIM texture, a particle cache."""
    return MaScene(
        textures=[f"{TEX}/wood.png", f"{TEX}/missing.png", "sourceimages/relative.png"],
        udim=f"{TEX}/skin.<UDIM>.tx",
        references=["v:/project/asset/chr/chr_rig.ma"],
        alembic="v:/project/cache/anim.abc",
        gpu_cache="//fileserver/lib/set.abc",
        image_plane="v:/project/plates/bg.####.jpg",
        particle_cache="particles/rain.mcx",
        cameras=[("persp", True), ("top", False), ("camera1", True), ("camera2", False)],
        legacy_layers=[("ball", True), ("bg", False)],
        renderer="arnold",
        prefix="<Scene>/<RenderLayer>/<Scene>",
        frames=(1001, 1024),
    )


def test_ma_analysis_reads_what_the_scene_needs_and_offers(tmp_path: Path) -> None:
    scene = lgt().write(tmp_path / "lgt.ma")
    read = read_scene(scene)
    assert read.format == "ma" and not read.partial
    assert read.renderer == "arnold" and read.image_prefix == "<Scene>/<RenderLayer>/<Scene>"
    assert read.frame_range == (1001, 1024) and read.maya_version == "2024"
    assert read.plugins == ["mtoa"]
    assert {(c.transform, c.renderable) for c in read.cameras} == {
        ("persp", True),
        ("top", False),
        ("camera1", True),
        ("camera2", False),
    }
    assert [(layer.name, layer.renderable) for layer in read.layers] == [
        ("defaultRenderLayer", True),
        ("ball", True),
        ("bg", False),
    ]
    kinds = {f.path: f.kind for f in read.files}
    assert kinds["v:/project/asset/chr/chr_rig.ma"] == "reference"
    assert kinds["v:/project/cache/anim.abc"] == "Alembic cache"
    assert kinds["//fileserver/lib/set.abc"] == "GPU cache"
    assert kinds["v:/project/plates/bg.####.jpg"] == "image plane"
    assert kinds[f"{TEX}/skin.<UDIM>.tx"] == "texture"
    assert kinds["particles/rain.mcx"] == "particle cache"
    udim = next(f for f in read.files if "UDIM" in f.path)
    plate = next(f for f in read.files if f.kind == "image plane")
    assert udim.tiled and udim.pattern and plate.sequence and plate.pattern
    assert not next(f for f in read.files if f.path.endswith("wood.png")).pattern

    analysis = get_job_type("maya").analyse(scene, "/v/project/scenes/lgt.ma")
    assert analysis.refusal is None
    assert analysis.dependencies == [
        "/v/project/asset/chr/chr_rig.ma",
        "/v/project/asset/sourceimages/wood.png",
        "/v/project/asset/sourceimages/missing.png",
        "/v/project/sourceimages/relative.png",  # against the project: parent of scenes/
        "/v/project/cache/anim.abc",
        "/fileserver/lib/set.abc",  # a UNC path written with slashes
        "/v/project/particles/rain.mcx",
    ]
    patterns = [w for w in analysis.warnings if "is a pattern" in w]
    assert len(patterns) == 2 and any("in /v/project/plates are not checked" in w for w in patterns)
    assert analysis.cameras == [
        "persp",
        "perspShape",
        "top",
        "topShape",
        "camera1",
        "camera1Shape",
        "camera2",
        "camera2Shape",
    ]
    assert analysis.layers == ["defaultRenderLayer", "masterLayer", "ball", "bg"]
    assert analysis.frame_range == (1001, 1024)


def test_render_setup_layers_and_playback_range(tmp_path: Path) -> None:
    scene = MaScene(setup_layers=["beauty", "shadow"], frames=None, playback=(5, 48))
    read = read_scene(scene.write(tmp_path / "rs.ma"))
    assert read.render_setup
    assert read.frame_range == (5, 48)  # no render globals range: the playback range
    assert read.layer_names() == [
        "defaultRenderLayer",
        "masterLayer",
        "rs_beauty",
        "beauty",
        "rs_shadow",
        "shadow",
    ]
    assert read.layer_node("beauty") == "rs_beauty"
    assert read.layer_node("masterLayer") == "defaultRenderLayer"


def test_bad_paths_and_huge_statements_are_warnings_not_errors(tmp_path: Path) -> None:
    scene = MaScene(textures=["$PROJECT/tex/a.png", "../../../../../../x.png"])
    text = scene.text().replace(
        "select -ne :defaultRenderGlobals;",
        'createNode file -n "huge";\n\tsetAttr ".ftn" -type "string" "'
        + "a" * (MAX_STATEMENT + 10)
        + '.png";\n'
        + 'createNode mesh -n "dense";\n\tsetAttr ".vt" '
        + "1 2 3 " * (MAX_LINE // 2)  # one line longer than a line is read at a time
        + ";\nselect -ne :defaultRenderGlobals;",
    )
    path = tmp_path / "odd.ma"
    path.write_text(text)
    analysis = get_job_type("maya").analyse(path, "/v/p/odd.ma")
    assert analysis.dependencies == []
    assert any("environment variable" in w for w in analysis.warnings)
    assert any("points above the root" in w for w in analysis.warnings)
    assert analysis.frame_range == (1, 10)  # the statements after the huge one are read


def test_a_file_that_is_not_a_maya_scene_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lgt.ma"
    path.write_bytes(b"\x89PNG\r\n\x1a\n....")
    analysis = get_job_type("maya").analyse(path, "/v/project/shot/lgt.ma")
    assert analysis.refusal is not None and "is not a Maya scene" in analysis.refusal
    with pytest.raises(ValueError, match="not a Maya scene"):
        read_scene(path)


@pytest.mark.parametrize("wide", [True, False], ids=["FOR8", "FOR4"])
def test_mb_read_from_its_chunks_is_partial(tmp_path: Path, wide: bool) -> None:
    path = write_mb(
        tmp_path / "2014_api_camera_layer.mb",
        textures=[f"{TEX}/wood.png"],
        references=["v:/project/asset/chr/chr_rig.mb"],
        renderer="vray",
        wide=wide,
    )
    read = read_scene(path)
    assert read.format == "mb" and read.partial
    assert read.maya_version == "2024" and read.plugins == ["mtoa"] and read.renderer == "vray"
    assert [(f.path, f.kind) for f in read.files] == [
        ("v:/project/asset/chr/chr_rig.mb", "reference"),
        (f"{TEX}/wood.png", "texture"),
    ]
    analysis = get_job_type("maya").analyse(path, "/e/test_files/2014_api_camera_layer.mb")
    assert analysis.dependencies == [
        "/v/project/asset/chr/chr_rig.mb",
        "/v/project/asset/sourceimages/wood.png",
    ]
    # what the chunks cannot tell is not checked: any camera and layer may be asked for
    assert analysis.cameras is None and analysis.layers is None and analysis.frame_range is None
    assert any("read as far as its chunks tell" in w for w in analysis.warnings)


def test_iff_walk_is_bounded_by_its_groups(tmp_path: Path) -> None:
    good = chunk(b"STR ", b".ftn\0\x01a.png\0")
    # a chunk claiming more bytes than its group holds ends that group's walk, nothing raises
    broken = b"BAD " + (1 << 30).to_bytes(4, "big") + b"xx"
    data = group(b"FOR4", b"Maya", [good, broken])
    assert list(iff_chunks(data)) == [(b"STR ", b".ftn\0\x01a.png\0")]
    path = tmp_path / "cut.mb"
    path.write_bytes(data[:-3])  # cut short: the group no longer fits the file
    assert read_scene(path).files == []


@pytest.fixture
def maya_farm(live_server: LiveServer) -> httpx.Client:
    """The live server with a (simulated) Maya 2024 node and project `api` rendering Maya."""
    register_worker(
        live_server.url, live_server.farm.join_key, software=[{"name": "maya", "version": "2024"}]
    )
    with Client(live_server.url, live_server.user_key) as client:
        client.create_project("api", "maya 2024")
    return live_server.client(live_server.user_key)


def test_submit_warns_of_missing_files_and_refuses_unknown_choices(
    live_server: LiveServer, maya_farm: httpx.Client, tmp_path: Path
) -> None:
    scene = lgt().write(tmp_path / "lgt.ma")
    upload(maya_farm, "/v/project/scenes/lgt.ma", scene.read_bytes())
    for name in ("wood.png", "relative.png"):
        folder = (
            "/v/project/asset/sourceimages" if name == "wood.png" else "/v/project/sourceimages"
        )
        upload(maya_farm, f"{folder}/{name}", b"an image")
    with Client(live_server.url, live_server.user_key) as client:
        task = client.submit("api", r"v:\project\scenes\lgt.ma", "1001-1003", camera="camera1")
        missing = sorted(w.split(":")[0] for w in task.warnings if w.startswith("missing file"))
        assert missing == [
            "missing file /fileserver/lib/set.abc",
            "missing file /v/project/asset/chr/chr_rig.ma",
            "missing file /v/project/asset/sourceimages/missing.png",
            "missing file /v/project/cache/anim.abc",
            "missing file /v/project/particles/rain.mcx",
        ]
        with pytest.raises(BadRequest, match=r"never uploaded: .*missing\.png"):
            client.submit("api", r"v:\project\scenes\lgt.ma", "1001", strict=True)
        with pytest.raises(BadRequest, match="its cameras are persp, perspShape"):
            client.submit("api", r"v:\project\scenes\lgt.ma", "1001", camera="camera9")
        with pytest.raises(BadRequest, match="masterLayer, ball, bg"):
            client.submit("api", r"v:\project\scenes\lgt.ma", "1001", render_layer="fg")
        out_of_range = client.submit("api", r"v:\project\scenes\lgt.ma", "1-2", render_layer="ball")
        assert any("outside the frame range" in w for w in out_of_range.warnings)


def test_seed_mb_submission_with_layer_and_camera(
    live_server: LiveServer, maya_farm: httpx.Client, tmp_path: Path
) -> None:
    mb = write_mb(tmp_path / "x.mb", textures=[f"{TEX}/wood.png"], references=[])
    upload(maya_farm, "/e/test_files/2014_api_camera_layer.mb", mb.read_bytes())
    upload(maya_farm, "/v/project/asset/sourceimages/wood.png", b"an image")
    with Client(live_server.url, live_server.user_key) as client:
        task = client.submit(
            "api",
            r"E:\test_files\2014_api_camera_layer.mb",
            "1073-1073[1]",
            render_layer="ball",
            camera="camera1",
        )
    assert task.camera == "camera1" and task.render_layer == "ball"
    assert not any(w.startswith("missing file") for w in task.warnings)
