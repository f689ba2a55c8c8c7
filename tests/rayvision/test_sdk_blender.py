"""The vendor's documented Blender workflow, with the unmodified SDK, on a real farm that renders
with the real Blender: check, upload, submit, auto_download, then the task's frames and
operations through the SDK's own calls.

The vendor's analyser runs Blender with a Windows-only module, so on Linux the script writes the
analyser's skeleton task.json (`AnalyzeBlender.write_task_json`, the step before Blender) and the
farm reads the scene itself. One farm (SQLite, one worker), two frames of 64x48.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from PIL import Image

from tests.client.conftest import age
from tests.rayvision.conftest import Sdk, sdk_env
from tests.rayvision_kit import sdk_caller
from tests.scenes import blender_exe, make_scenes
from tests.upkit import foxden_up

pytestmark = pytest.mark.blender


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`foxden up` with one local worker (Blender); yields its credentials.json."""
    blender_exe()
    with foxden_up(tmp_path, workers=1) as credentials:
        yield credentials


#: the vendor's Blender demo; the only changes are domain, protocol and transmitter_exe (and, on
#: Linux, the analyser's skeleton instead of its Windows-only analysis).
DEMO = """
import os
from rayvision_api import RayvisionAPI
from rayvision_api.task.check import RayvisionCheck
from rayvision_api.utils import append_to_upload
from rayvision_blender.analyze_blender import AnalyzeBlender
from rayvision_sync.download import RayvisionDownload
from rayvision_sync.upload import RayvisionUpload

api = RayvisionAPI(access_id=PARAMS["id"], access_key=PARAMS["key"], domain=PARAMS["domain"],
                   platform="2", protocol="http")
versions = [v["cgVersion"] for v in api.query.supported_plugin("blender")["cgVersion"]]
hardware_config = {"model": "Default", "ram": "64GB", "gpuNum": None}  # the demo's own

workspace = os.path.join(os.environ["HOME"], "workspace")
os.makedirs(workspace)
analyze = AnalyzeBlender(cg_file=PARAMS["scene"], software_version=versions[0],
                         project_name="sdk-demo", plugin_config={}, workspace=workspace,
                         platform="2")
analyze.write_task_json()  # the analyser's skeleton: task_info, software_config
with open(analyze.upload_json, "w") as fh:
    json.dump({"asset": []}, fh)
append_to_upload([PARAMS["scene"], PARAMS["texture"]], analyze.upload_json)

check = RayvisionCheck(api, analyze)
task_id = check.execute(hardware_config, analyze.task_json, analyze.upload_json)

upload = RayvisionUpload(api, transmitter_exe=PARAMS["transmitter"])
upload.upload_asset(upload_json_path=analyze.upload_json)
upload.upload_config(str(task_id), [analyze.task_json, analyze.upload_json])
api.submit(int(task_id))

download = RayvisionDownload(api, transmitter_exe=PARAMS["transmitter"])
download.auto_download([int(task_id)], sleep_time=1, local_path=PARAMS["out"])

info = api.query.task_info([task_id])["items"][0]
frames = api.query.task_frames(task_id)["items"]
print(json.dumps({"task_id": task_id, "info": info, "frames": frames,
                  "task_json": json.load(open(analyze.task_json))}))
"""

#: stop, restart and delete through the SDK, then the task is gone from its queries.
OPERATE = """
from rayvision_api import RayvisionAPI
from rayvision_api.exception import RayvisionAPIError

api = RayvisionAPI(access_id=PARAMS["id"], access_key=PARAMS["key"], domain=PARAMS["domain"],
                   platform="2", protocol="http")
task_id = PARAMS["task_id"]
status = lambda: api.query.task_info([task_id])["items"][0]["taskStatus"]
seen = {"done": status()}
seen["listed"] = [t["id"] for t in api.query.get_task_list(page_num=1, page_size=100)["items"]]
api.query.restart_frame(task_id, select_all=1)
seen["restarted"] = status()
api.task.stop_task([task_id])
seen["stopped"] = status()
seen["frames_stopped"] = [f["frameStatus"] for f in api.query.task_frames(task_id)["items"]]
api.task.start_task([task_id])
seen["started"] = status()
api.task.stop_task([task_id])
api.task.delete_task([task_id])
seen["listed_after_delete"] = [
    t["id"] for t in api.query.get_task_list(page_num=1, page_size=100)["items"]
]
try:
    seen["info_after_delete"] = api.query.task_info([task_id])["items"]
except RayvisionAPIError as exc:
    seen["info_after_delete"] = exc.error_code
print(json.dumps(seen))
"""


def test_the_vendor_blender_demo_renders_on_foxden(
    farm: dict[str, str], sdk_python: Path, sdk_home: Path, transmitter: Path, tmp_path: Path
) -> None:
    shot = make_scenes(tmp_path / "project" / "shot", "--only", "anim", "--frames", "2")
    age(shot)
    scene, texture = shot / "anim.blend", shot / "tex" / "checker.png"
    assert texture.is_file()
    caller = sdk_caller(farm["render_server"], farm["access_key"])
    sdk = Sdk(
        sdk_python,
        sdk_home,
        sdk_env(sdk_home, farm["render_server"], farm["account"], farm["access_key"]),
    )
    out = tmp_path / "renders"
    params = {
        "id": caller.access_id,
        "key": caller.secret,
        "domain": urlparse(farm["render_server"]).netloc,
        "scene": str(scene),
        "texture": str(texture),
        "transmitter": str(transmitter),
        "out": str(out),
    }
    got = sdk.run(DEMO, params, timeout=400).result()
    task_id, info = got["task_id"], got["info"]
    assert info["id"] == task_id and info["taskStatus"] == 25, info
    assert got["task_json"]["task_info"]["task_id"] == str(task_id)
    assert info["outputFileName"] == f"{task_id}_anim" and info["doneFrames"] == 2
    assert sorted((f["frameIndex"], f["frameStatus"]) for f in got["frames"]) == [
        ("1", 4),
        ("2", 4),
    ]

    images = sorted((out / info["outputFileName"]).iterdir())
    assert len(images) == 2, images
    pixels = []
    for path in images:
        with Image.open(path) as img:
            assert img.format == "PNG" and img.size == (64, 48)
            pixels.append(img.convert("RGB").tobytes())
    assert pixels[0] != pixels[1]  # the cube moves

    seen = sdk.run(OPERATE, {**params, "task_id": task_id}, timeout=300).result()
    assert seen["done"] == 25
    assert seen["restarted"] in (0, 5), seen
    assert seen["stopped"] == 10, seen
    assert len(seen["frames_stopped"]) == 2 and 4 not in seen["frames_stopped"], seen
    assert seen["started"] in (0, 5, 25), seen
    assert task_id in seen["listed"] and task_id not in seen["listed_after_delete"]
    assert seen["info_after_delete"] in ([], 404), seen
