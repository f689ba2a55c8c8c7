"""Registry, software names, output checks, and the setup script's path mapping."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from foxden.errors import BadRequest
from foxden.jobtypes import (
    Software,
    check_image,
    get_job_type,
    job_type_for_software,
    software_requirement,
)
from foxden.jobtypes.blender import SCRIPT, client_to_tree
from foxden.paths import is_client_absolute, mirror


def load_setup_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("foxden_render", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SETUP = load_setup_script()


@pytest.mark.parametrize(
    ("name", "job", "version"),
    [
        ("blender 3.4", "blender", "3.4"),
        ("Blender", "blender", None),
        ("blender", "blender", None),
        ("Blender-3.4.1", "blender", "3.4.1"),
        ("blender3.6", "blender", "3.6"),
        (" command ", "command", None),
    ],
)
def test_software_names(name: str, job: str, version: str | None) -> None:
    assert software_requirement(name) == (job, version)
    assert job_type_for_software(name).name == job


def test_unknown_software_and_job_type() -> None:
    with pytest.raises(BadRequest, match="known job types are blender, command"):
        job_type_for_software("houdini 20")
    with pytest.raises(BadRequest):
        software_requirement("")
    assert get_job_type("Blender").name == "blender"


def test_software_versions() -> None:
    sw = Software("blender", "3.4.1", "/usr/bin/blender")
    assert sw.satisfies(None) and sw.satisfies("3") and sw.satisfies("3.4.1")
    assert not sw.satisfies("3.41") and not sw.satisfies("4")


def test_check_image(tmp_path: Path) -> None:
    png = tmp_path / "a.png"
    Image.new("RGB", (16, 16), (1, 2, 3)).save(png)
    assert check_image(png) is None
    truncated = tmp_path / "b.png"
    truncated.write_bytes(png.read_bytes()[:-20])
    assert "not a readable image" in (check_image(truncated) or "")
    exr = tmp_path / "c.exr"
    exr.write_bytes(b"\x76\x2f\x31\x01" + b"\x02\x00\x00\x00" + b"\x00" * 100)
    assert check_image(exr) is None
    fake = tmp_path / "d.exr"
    fake.write_bytes(b"not an exr at all")
    assert check_image(fake) is not None
    (tmp_path / "e.png").write_bytes(b"")
    assert "empty" in (check_image(tmp_path / "e.png") or "")
    assert "missing" in (check_image(tmp_path / "f.png") or "")


def test_client_paths_to_tree() -> None:
    assert (
        client_to_tree("v:\\project\\tex\\wood.png", "/v/project/shot") == "/v/project/tex/wood.png"
    )
    assert client_to_tree("V:/project/tex/wood.png", "/x") == "/v/project/tex/wood.png"
    assert client_to_tree("//tex/wood.png", "/v/project/shot") == "/v/project/shot/tex/wood.png"
    assert client_to_tree("//..\\tex\\wood.png", "/v/project/shot") == "/v/project/tex/wood.png"
    assert client_to_tree("tex/a.png", "/v/p") == "/v/p/tex/a.png"
    assert client_to_tree("\\\\srv\\share\\a.png", "/v") == "/srv/share/a.png"
    assert client_to_tree("/mnt/proj/a.png", "/v") == "/mnt/proj/a.png"
    with pytest.raises(BadRequest, match="above the root"):
        client_to_tree("//../../../a.png", "/v/p")


# Paths as clients write them: drive letters, UNC, POSIX, mixed separators, odd names.
_part = st.text(st.sampled_from("abcXYZ09 _-.é#<>"), min_size=1, max_size=6)
_client = st.builds(
    lambda head, parts, sep: head + sep.join(parts),
    st.sampled_from(["c:\\", "V:/", "\\\\srv\\", "/", "/mnt/", "z:"]),
    st.lists(_part, min_size=1, max_size=4),
    st.sampled_from(["\\", "/"]),
)


@given(_client)
def test_setup_script_mirrors_like_the_server(path: str) -> None:
    """Blender's setup script cannot import foxden, so it has its own copy of mirror()."""
    expected: str | None = None
    raw = path.strip()
    if is_client_absolute(raw) and not raw.startswith("//"):  # '//' is Blender-relative
        try:
            expected = mirror(path)
        except BadRequest:
            expected = None
    assert SETUP.mirror_path(path) == expected


def test_setup_script_leaves_relative_paths() -> None:
    assert SETUP.mirror_path("//tex/a.png") is None
    assert SETUP.mirror_path("tex/a.png") is None
    assert SETUP.workspace_path("/ws", "v:\\project\\tex\\wood.png") == "/ws/v/project/tex/wood.png"
