"""The SDK's uploads through foxden-transmit, without a render: upload_asset puts the files of
upload.json at their mirrored paths, a file missing from disk makes the SDK give up with its own
error, upload_config stores a task's config files."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import httpx

from foxden.paths import mirror
from tests.conftest import LiveServer
from tests.rayvision.conftest import Sdk, sdk_env
from tests.rayvision_kit import sdk_caller

UPLOAD = """
import os
from rayvision_api import RayvisionAPI
from rayvision_api.utils import append_to_upload
from rayvision_sync.exception import RayvisionError
from rayvision_sync.upload import RayvisionUpload

api = RayvisionAPI(access_id=PARAMS["id"], access_key=PARAMS["key"], domain=PARAMS["domain"],
                   platform="2", protocol="http")
upload = RayvisionUpload(api, transmitter_exe=PARAMS["transmitter"])
work = os.path.join(os.environ["HOME"], "work")
os.makedirs(work)
upload_json = os.path.join(work, "upload.json")
with open(upload_json, "w") as fh:
    json.dump({"asset": []}, fh)
append_to_upload(PARAMS["files"], upload_json)
os.remove(PARAMS["files"][-1])  # gone after it was listed
try:
    upload.upload_asset(upload_json_path=upload_json)
    outcome = "uploaded"
except RayvisionError as exc:
    outcome = exc.error_code

task_id = api.task.create_task(count=1)["taskIdList"][0]
task_json = os.path.join(work, "task.json")
with open(task_json, "w") as fh:
    json.dump({"task_info": {"input_cg_file": PARAMS["files"][0]}}, fh)
upload.upload_config(str(task_id), [task_json])
print(json.dumps({"outcome": outcome, "task_id": task_id}))
"""


def test_upload_asset_and_config_through_the_transmitter(
    live_server: LiveServer, sdk_python: Path, sdk_home: Path, transmitter: Path, tmp_path: Path
) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    shot = tmp_path / "proj" / "shot"
    (shot / "tex").mkdir(parents=True)
    files = [shot / "shot.blend", shot / "tex" / "wood.png", shot / "tex" / "gone.png"]
    for i, path in enumerate(files):
        path.write_bytes(b"%d" % i * (100 + i))
    sdk = Sdk(
        sdk_python, sdk_home, sdk_env(sdk_home, live_server.url, "alice", live_server.user_key)
    )
    params = {
        "id": caller.access_id,
        "key": caller.secret,
        "domain": urlparse(live_server.url).netloc,
        "transmitter": str(transmitter),
        "files": [str(p) for p in files],
    }
    got = sdk.run(UPLOAD, params, timeout=240).result()
    assert got["outcome"] == 200025  # the SDK's "files that cannot be uploaded", after its retries

    auth = {"Authorization": f"Bearer {live_server.user_key}"}
    listed = httpx.get(
        f"{live_server.url}/api/files", params={"prefix": mirror(str(shot))}, headers=auth
    ).json()
    assert {f["path"]: f["size"] for f in listed} == {
        mirror(str(files[0])): 100,
        mirror(str(files[1])): 101,
    }
    config = httpx.get(
        f"{live_server.url}/api/tasks/{got['task_id']}/configs/task.json", headers=auth
    )
    assert config.status_code == 200 and str(files[0]) in config.text
