"""Client-side paths: a folder's links to outside stay home, names are NFC, bidi names are refused.

A scene folder from someone else can hold a symbolic link to the uploader's secrets
(`leak.json -> ~/.ssh/id_rsa`); uploading the folder must not send them unless asked. A name
with bidirectional-control characters (`photo<U+202E>gpj.exe` shows as `photoexe.jpg`) is refused
by the client and, for a crafted client, by the server.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from pathlib import Path

import pytest

from foxden.cli import main
from foxden.client.api import Client
from foxden.errors import BadRequest
from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, upload

SECRET = b'{"access_key": "fdk_the_uploaders_own_secret"}'
BIDI = "photo\u202egpj.exe"


@pytest.fixture(autouse=True)
def _client_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOXDEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FOXDEN_CONFIG_DIR", str(tmp_path / "config"))


def _tree(tmp_path: Path) -> Path:
    """A scene folder with links: two pointing outside it, one inside, one looping."""
    secret = tmp_path / "home" / ".foxden"
    secret.mkdir(parents=True)
    (secret / "credentials.json").write_bytes(SECRET)
    proj = tmp_path / "proj"
    (proj / "tex").mkdir(parents=True)
    (proj / "scene.txt").write_bytes(b"the scene")
    (proj / "tex" / "wood.png").write_bytes(b"wood")
    (proj / "leak.json").symlink_to(secret / "credentials.json")  # outside, absolute
    (proj / "home").symlink_to(Path("..") / "home" / ".foxden")  # outside, relative, a folder
    (proj / "same.txt").symlink_to("scene.txt")  # inside: kept
    (proj / "tex" / "loop").symlink_to("..")  # inside, a loop: entered once
    return proj


def _tree_paths(live: LiveServer, prefix: str) -> set[str]:
    reply = live.client(live.user_key).get("/api/files", params={"prefix": prefix})
    reply.raise_for_status()
    return {f["path"] for f in reply.json()}


def test_links_to_outside_a_folder_are_left_out(live_server: LiveServer, tmp_path: Path) -> None:
    proj = _tree(tmp_path)
    digest = hashlib.sha256(SECRET).hexdigest()
    with Client(live_server.url, live_server.user_key, progress=False) as client:
        stats = client.upload([proj])
    warned = "\n".join(stats.warnings)
    assert len(stats.warnings) == 2
    assert f"skipped {proj / 'leak.json'}: a symbolic link to {tmp_path}" in warned
    assert f"skipped {proj / 'home'}: a symbolic link to ../home/.foxden" in warned
    base = str(proj)
    assert _tree_paths(live_server, base) == {
        f"{base}/scene.txt",
        f"{base}/same.txt",
        f"{base}/tex/wood.png",  # tex/loop leads back to a folder entered already
    }
    user = live_server.client(live_server.user_key)
    assert user.get(f"/api/blobs/{digest}").status_code == 404  # the farm never got it
    assert not live_server.farm.store.exists(digest)


def test_follow_links_includes_them(
    live_server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = _tree(tmp_path)
    env = {
        "FOXDEN_SERVER": live_server.url,
        "FOXDEN_ACCOUNT": "alice",
        "FOXDEN_ACCESS_KEY": live_server.user_key,
    }
    os.environ.update(env)
    try:
        assert main(["upload", str(proj)]) == 0
        err = capsys.readouterr().err
        assert f"warning: skipped {proj / 'leak.json'}" in err
        assert f"warning: skipped {proj / 'home'}" in err
        assert f"{proj}/leak.json" not in _tree_paths(live_server, str(proj))
        assert main(["upload", str(proj), "--follow-links"]) == 0
        assert "warning" not in capsys.readouterr().err
    finally:
        for name in env:
            del os.environ[name]
    paths = _tree_paths(live_server, str(proj))
    assert {f"{proj}/leak.json", f"{proj}/home/credentials.json"} <= paths
    user = live_server.client(live_server.user_key)
    assert user.get(f"/api/blobs/{hashlib.sha256(SECRET).hexdigest()}").content == SECRET
    # the Python client takes the same choice
    other = tmp_path / "other"
    other.mkdir()
    (other / "key").symlink_to(tmp_path / "home" / ".foxden" / "credentials.json")
    with Client(live_server.url, live_server.user_key, progress=False) as client:
        assert client.upload(other, follow_links=True).warnings == []
    assert _tree_paths(live_server, str(other)) == {f"{other}/key"}


def test_names_arrive_as_nfc(live_server: LiveServer, tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "café.blend")
    nfc = unicodedata.normalize("NFC", nfd)
    assert nfd != nfc
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / nfd).write_bytes(b"scene")
    with Client(live_server.url, live_server.user_key, progress=False) as client:
        client.upload([folder])
    assert _tree_paths(live_server, str(folder)) == {f"{folder}/{nfc}"}
    # a client that sends NFD itself finds its file stored under the NFC name too
    user = live_server.client(live_server.user_key)
    upload(user, f"/v/{nfd}", b"raw")
    assert _tree_paths(live_server, "/v") == {f"/v/{nfc}"}
    # and submitting by either spelling finds the same scene
    register_worker(live_server.url, live_server.farm.join_key)
    make_project(user)
    for spelling in (nfd, nfc):
        reply = user.post(
            "/api/tasks",
            json={"project_name": "proj", "input_scene_path": f"/v/{spelling}", "frames": "1"},
        )
        assert reply.status_code == 201 and reply.json()["scene_path"] == f"/v/{nfc}"


def test_bidi_control_names_are_refused(live_server: LiveServer, tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "scene.txt").write_bytes(b"fine")
    (folder / BIDI).write_bytes(b"MZ not a photo")
    with (
        Client(live_server.url, live_server.user_key, progress=False) as client,
        pytest.raises(BadRequest) as refused,
    ):
        client.upload([folder])
    message = refused.value.message
    assert repr(str(folder / BIDI)) in message and "\\u202e" in message and "U+202E" in message
    assert _tree_paths(live_server, "/") == set()  # nothing was sent, not even scene.txt
    # a crafted client sending the name itself gets 400 for every way in
    user = live_server.client(live_server.user_key)
    digest = hashlib.sha256(b"MZ").hexdigest()
    for name in (BIDI, "x\u2066y", "a\u200fb", "n\u061cm"):
        entry = {"path": f"/v/{name}", "size": 2, "hash": digest}
        for url in ("/api/files/check", "/api/files/commit"):
            reply = user.post(url, json={"files": [entry]})
            assert reply.status_code == 400, (url, reply.text)
            assert "bidirectional-control" in reply.json()["error"]["message"]
    reply = user.post(
        "/api/tasks", json={"project_name": "p", "input_scene_path": f"/v/{BIDI}", "frames": "1"}
    )
    assert reply.status_code == 400 and "bidirectional-control" in reply.text
    assert _tree_paths(live_server, "/") == set()
