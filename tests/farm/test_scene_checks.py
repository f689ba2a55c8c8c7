"""The rules of `farm.scene_checks`, on analyses given directly: what is refused, what warns,
and that what analysis could not tell is never held against a submission."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from foxden.errors import BadRequest
from foxden.farm.scene_checks import check_choices, missing_files, runs
from foxden.jobtypes.base import Analysis

SCENE = "/v/shot/anim.blend"


def _read(cameras: Sequence[str] | None = ("CamA", "CamB")) -> Analysis:
    """What analysis reads of a scene with these cameras, view layer LayerA, frames 1-10."""
    found = None if cameras is None else list(cameras)
    return Analysis(cameras=found, layers=["LayerA"], frame_range=(1, 10))


def test_choices_the_scene_has_pass_and_those_it_lacks_are_named() -> None:
    assert check_choices(_read(), SCENE, "CamB", "LayerA", [1, 10]) == []
    assert check_choices(_read(), SCENE, "", "", [5]) == []  # the scene's own
    with pytest.raises(BadRequest, match=r"camera 'camb' is not in anim\.blend: its cameras are"):
        check_choices(_read(), SCENE, "camb", "", [1])  # names are exact, as Blender's are
    with pytest.raises(BadRequest, match=r"camera 'Cam' is not in anim\.blend: it has no camera"):
        check_choices(_read(cameras=[]), SCENE, "Cam", "", [1])
    many = [f"Cam{i:02d}" for i in range(25)]
    with pytest.raises(BadRequest, match="Cam19 and 5 more"):
        check_choices(_read(cameras=many), SCENE, "CamX", "", [1])
    with pytest.raises(BadRequest, match=r"view layer 'B' .* its view layers are LayerA"):
        check_choices(_read(), SCENE, "", "B", [1])
    with pytest.raises(BadRequest, match=r"not a \.blend file"):
        check_choices(Analysis(refusal="scene x is not a .blend file"), SCENE, "", "", [1])


def test_what_analysis_could_not_read_is_not_checked() -> None:
    unknown = Analysis()
    assert check_choices(unknown, SCENE, "AnyCam", "AnyLayer", [1, 99999]) == []
    assert check_choices(_read(cameras=None), SCENE, "FromALibrary", "", [1]) == []


def test_frames_outside_the_range_warn_in_runs() -> None:
    (warning,) = check_choices(_read(), SCENE, "", "", [-2, -1, 0, 5, 11, 12, 13, 20])
    assert warning.startswith("frames -2-0,11-13,20 are outside the frame range of anim.blend")
    assert "(frames 1-10)" in warning
    assert runs(list(range(0, 100, 2))) == ",".join(map(str, range(0, 40, 2))) + " and 30 more"


def test_missing_files_warn_one_each_or_strict_refuses_naming_them() -> None:
    assert missing_files([], strict=True) == []
    warnings = missing_files(["/v/a.png", "/v/b.abc"], strict=False)
    assert [w.split(":")[0] for w in warnings] == ["missing file /v/a.png", "missing file /v/b.abc"]
    with pytest.raises(
        BadRequest, match=r"uses 2 file\(s\) that were never uploaded: /v/a.png, /v/b.abc"
    ):
        missing_files(["/v/a.png", "/v/b.abc"], strict=True)
