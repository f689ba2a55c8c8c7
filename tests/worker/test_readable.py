"""The log and errors a user reads: the worker's paths shown as the user's, markers left out."""

from __future__ import annotations

from pathlib import Path

from foxden.worker.readable import PLAIN, Readable


def lease_view(tmp_path: Path) -> tuple[Readable, Path]:
    work = tmp_path / "cache" / "work"
    root = work / "task-7-lease-3"
    (root / "tree").mkdir(parents=True)
    (root / "out").mkdir()
    view = Readable.for_lease(
        root / "tree", root / "out", "7_shot", root, tmp_path / "cache" / "blobs", work
    )
    return view, root


def test_workspace_paths_become_the_users(tmp_path: Path) -> None:
    view, root = lease_view(tmp_path)
    assert view.line(f"Read blend: {root}/tree/v/p/shot.blend") == "Read blend: /v/p/shot.blend"
    assert view.line(f"Saved: '{root}/out/shot_0001.png'") == "Saved: '7_shot/shot_0001.png'"
    assert view.paths(f"cd {root}/tree; ls {root}/tree") == "cd /; ls /"
    assert view.paths(f"{root}/tmp/x") == "(workspace)/tmp/x"
    assert view.paths(f"{tmp_path}/cache/blobs/ab/abcd") == "(worker)/ab/abcd"
    # another lease's workspace is the worker's, not this one's (no prefix match)
    assert view.paths(f"{root}0/tree/a") == "(worker)/task-7-lease-30/tree/a"
    assert str(tmp_path) not in view.paths(f"{tmp_path}/cache/work/task-1-lease-1/tree/v")


def test_a_path_through_a_link_is_found_too(tmp_path: Path) -> None:
    _view, root = lease_view(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "cache")
    linked = Readable.for_lease(
        link / "work/task-7-lease-3/tree", link / "work/task-7-lease-3/out", "7_shot", link
    )
    assert linked.paths(f"{root}/tree/v/a.png") == "/v/a.png"  # the real path of the link's


def test_markers_are_left_out_and_warnings_worded(tmp_path: Path) -> None:
    view, root = lease_view(tmp_path)
    assert view.line("FOXDEN_FRAME_START 3") is None
    assert view.line(
        f"FOXDEN_WARNING missing file v:/p/t.png (looked for {root}/tree/v/p/t.png)"
    ) == ("foxden: warning: missing file v:/p/t.png (looked for /v/p/t.png)")
    assert PLAIN.line("FOXDEN_PROGRESS 1 0.5") is None
    assert PLAIN.line("plain /any/path") == "plain /any/path"
