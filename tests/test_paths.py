"""Client paths mirrored into the account tree, and paths that could escape it refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from foxden.errors import BadRequest
from foxden.paths import mirror, relative_in_tree, tree_path


@pytest.mark.parametrize(
    ("client", "tree"),
    [
        (r"v:\project\shot\lgt.ma", "/v/project/shot/lgt.ma"),
        (r"V:\Project\a.blend", "/v/Project/a.blend"),
        ("E:/test_files/2014_api_camera_layer.mb", "/e/test_files/2014_api_camera_layer.mb"),
        (r"\\srv\share\x", "/srv/share/x"),
        ("//srv/share/x", "/srv/share/x"),
        ("/home/artist/shot.blend", "/home/artist/shot.blend"),
        ("/a//b/./c", "/a/b/c"),
    ],
)
def test_mirror(client: str, tree: str) -> None:
    assert mirror(client) == tree


@pytest.mark.parametrize("bad", ["", "/a/../etc/passwd", r"v:\a\..\..\b", "/a/\x00b", "/"])
def test_escapes_and_junk_are_refused(bad: str) -> None:
    with pytest.raises(BadRequest):
        mirror(bad)


@given(st.lists(st.text(alphabet="abcXYZ._- 09", min_size=1, max_size=8), min_size=1, max_size=6))
def test_tree_paths_stay_inside(parts: list[str]) -> None:
    path = "/" + "/".join(parts)
    try:
        normal = tree_path(path)
    except BadRequest:
        return
    rel = relative_in_tree(normal)
    assert not rel.is_absolute() and ".." not in rel.parts
