"""The unmodified SDK logs in to foxden: RayvisionAPI(domain=..., protocol="http")."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from tests.conftest import LiveServer
from tests.rayvision.conftest import Sdk, sdk_env
from tests.rayvision_kit import sdk_caller

LOGIN = """
from rayvision_api import RayvisionAPI
from rayvision_api.exception import RayvisionAPIError

try:
    api = RayvisionAPI(access_id=PARAMS["id"], access_key=PARAMS["key"], domain=PARAMS["domain"],
                       platform="2", protocol="http")
except RayvisionAPIError as exc:
    print(json.dumps({"error": type(exc).__name__, "code": exc.error_code}))
else:
    print(json.dumps({"user_info": api.user_info}))
"""

REPLAY = """
import requests
from rayvision_api import RayvisionAPI

api = RayvisionAPI(access_id=PARAMS["id"], access_key=PARAMS["key"], domain=PARAMS["domain"],
                   platform="2", protocol="http")
path = "/api/render/setUp/queryUserProfile"
headers = api._connect._handle_headers(path, {})  # the SDK's own signing, once
url = "http://" + PARAMS["domain"] + path
first = requests.post(url, "{}", headers=headers, timeout=30).json()
again = requests.post(url, "{}", headers=headers, timeout=30).json()
print(json.dumps({"first": first["code"], "again": again["code"], "message": again["message"]}))
"""


def _sdk(python: Path, home: Path, live: LiveServer) -> Sdk:
    return Sdk(python, home, sdk_env(home, live.url, "alice", live.user_key))


def test_the_sdk_logs_in(live_server: LiveServer, sdk_python: Path, sdk_home: Path) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    domain = urlparse(live_server.url).netloc
    params = {"id": caller.access_id, "key": caller.secret, "domain": domain}
    info = _sdk(sdk_python, sdk_home, live_server).run(LOGIN, params).result()["user_info"]
    assert info["user_name"] == "alice" and isinstance(info["user_id"], int)
    assert info["input_bid"] == f"input-{info['user_id']}"
    assert info["config_bid"] == f"config-{info['user_id']}"
    assert info["output_bid"] == f"output-{info['user_id']}"
    assert info["domain"] == domain and info["platform"] == "2" and info["local_os"] == "linux"


def test_a_wrong_secret_raises_the_sdks_401(
    live_server: LiveServer, sdk_python: Path, sdk_home: Path
) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    domain = urlparse(live_server.url).netloc
    params = {"id": caller.access_id, "key": caller.secret[:-2] + "xx", "domain": domain}
    got = _sdk(sdk_python, sdk_home, live_server).run(LOGIN, params).result()
    assert got == {"error": "RayvisionAPIError", "code": 401}


def test_a_replayed_sdk_request_is_refused(
    live_server: LiveServer, sdk_python: Path, sdk_home: Path
) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    domain = urlparse(live_server.url).netloc
    params = {"id": caller.access_id, "key": caller.secret, "domain": domain}
    got = _sdk(sdk_python, sdk_home, live_server).run(REPLAY, params).result()
    assert got["first"] == 200 and got["again"] == 401 and "replay" in got["message"]
