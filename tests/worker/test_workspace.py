"""Workspaces: the tree mirrored with hard links, escaping paths refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from foxden.errors import BadRequest
from foxden.worker import workspace as workspaces
from foxden.worker.cache import BlobCache
from tests.worker.fakefarm import blob_server, client_for, digest_of


def test_workspace_mirrors_the_tree_with_hard_links(tmp_path: Path) -> None:
    scene, tex = b"blend", b"png"
    transport, _ = blob_server({digest_of(scene): scene, digest_of(tex): tex})
    cache = BlobCache(tmp_path / "cache" / "blobs", 10_000)
    inputs = [
        {"path": "/v/project/a.blend", "hash": digest_of(scene), "size": len(scene)},
        {"path": "/v/project/tex/t.png", "hash": digest_of(tex), "size": len(tex)},
    ]
    ws = workspaces.create(
        tmp_path / "cache" / "work",
        3,
        9,
        inputs,  # type: ignore[arg-type]
        cache,
        client_for(transport),
    )
    local = ws.tree / "v" / "project" / "a.blend"
    assert local.read_bytes() == scene
    assert local.stat().st_ino == cache.path(digest_of(scene)).stat().st_ino
    assert (ws.tree / "v/project/tex/t.png").read_bytes() == tex
    assert ws.out.is_dir()
    ws.remove()
    assert not ws.root.exists()
    assert cache.path(digest_of(scene)).exists()


@pytest.mark.parametrize("bad", ["/v/../../etc/passwd", "../x", "/a/\x00b"])
def test_workspace_refuses_paths_that_escape(tmp_path: Path, bad: str) -> None:
    ws = workspaces.Workspace(tmp_path / "ws")
    with pytest.raises(BadRequest):
        ws.local(bad)
