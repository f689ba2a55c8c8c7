"""foxden-transmit on its own, as the vendor SDK runs it, against a live farm."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from foxden.client.api import Client
from foxden.client.transmit import exit_code, install, main
from foxden.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    ServerUnavailable,
    StorageFull,
    TooManyRequests,
    TransferError,
    Unauthorized,
    UntrustedCertificate,
)
from foxden.paths import mirror
from tests.client.conftest import SimFarm
from tests.conftest import LiveServer, free_port
from tests.rayvision_kit import sdk_caller


@pytest.fixture
def login(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> int:
    """alice's key in FOXDEN_*; returns her account id."""
    monkeypatch.setenv("FOXDEN_SERVER", live_server.url)
    monkeypatch.setenv("FOXDEN_ACCOUNT", "alice")
    monkeypatch.setenv("FOXDEN_ACCESS_KEY", live_server.user_key)
    with Client(live_server.url, live_server.user_key) as client:
        return client.me().id


def argv(
    url: str, account_id: int, kind: str, local: Path | str, remote: str = "/", **more: str
) -> list[str]:
    """The command line the SDK writes (create_cmd), as a list."""
    storage = {"upload_json": "input", "upload_path": "config", "download_path": "output"}[kind]
    flags = {
        "-E": "aspera",
        "-H": url,
        "-P": "",
        "-S": f"{storage}-{account_id}",
        "-U": str(account_id),
        "-T": kind,
        "-L": str(local),
        "-R": remote,
        "-r": "2",
        "-K": "false",
        "-s": "1048576",
        "-C": "None",
        "-p": "0",
        **more,
    }
    return [x for pair in flags.items() for x in pair]


def tree(url: str, key: str, prefix: str) -> dict[str, int]:
    reply = httpx.get(
        f"{url}/api/files", params={"prefix": prefix}, headers={"Authorization": f"Bearer {key}"}
    )
    reply.raise_for_status()
    return {f["path"]: f["size"] for f in reply.json()}


def test_upload_json_uploads_what_exists_and_exits_11_for_the_rest(
    live_server: LiveServer, login: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scene = tmp_path / "proj" / "shot.blend"
    textures = tmp_path / "proj" / "tex"
    textures.mkdir(parents=True)
    scene.write_bytes(b"BLENDER" * 100)
    (textures / "a.png").write_bytes(b"a" * 10)
    (textures / "b.png").write_bytes(b"b" * 20)
    missing = tmp_path / "proj" / "gone.png"
    upload = tmp_path / "upload.json"
    entries = [scene, textures, missing]
    upload.write_text(json.dumps({"asset": [{"local": str(p), "server": "x"} for p in entries]}))

    assert main(argv(live_server.url, login, "upload_json", upload)) == 11
    out = capsys.readouterr()
    assert str(missing) in out.err and "do not exist" in out.err
    assert f"-> {mirror(str(scene))}" in out.out
    got = tree(live_server.url, live_server.user_key, mirror(str(tmp_path)))
    assert got == {
        mirror(str(scene)): 700,
        mirror(str(textures / "a.png")): 10,
        mirror(str(textures / "b.png")): 20,
    }

    upload.write_text(json.dumps({"asset": [{"local": str(scene), "server": "x"}]}))
    assert main(argv(live_server.url, login, "upload_json", upload)) == 0
    assert "1 of 1 already on the farm" in capsys.readouterr().out


def test_another_account_or_storage_is_refused_with_9(
    live_server: LiveServer, login: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    upload = tmp_path / "upload.json"
    upload.write_text(json.dumps({"asset": []}))
    other = login + 1
    wrong_user = argv(live_server.url, other, "upload_json", upload)
    assert main(wrong_user) == 9
    assert f"-U {other} is not the account of this access key" in capsys.readouterr().err
    mixed = argv(live_server.url, login, "upload_json", upload, **{"-S": f"input-{other}"})
    assert main(mixed) == 9
    assert "is not the storage of account" in capsys.readouterr().err
    kind = argv(live_server.url, login, "upload_json", upload, **{"-S": f"output-{login}"})
    assert main(kind) == 9
    assert "is not the input storage id" in capsys.readouterr().err
    assert main(argv(live_server.url, login, "upload_json", upload)) == 0


def test_a_wrong_key_or_bad_arguments_exit_9(
    live_server: LiveServer,
    login: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    upload = tmp_path / "upload.json"
    upload.write_text("not json")
    assert main(argv(live_server.url, login, "upload_json", upload)) == 9
    assert "is not an upload.json" in capsys.readouterr().err
    assert main(argv(live_server.url, login, "upload_json", upload, **{"-T": "sideways"})) == 9
    assert main(["-T", "upload_json", "--no-such-flag-value"]) == 9
    monkeypatch.setenv("FOXDEN_ACCESS_KEY", "not-a-key")
    upload.write_text(json.dumps({"asset": []}))
    assert main(argv(live_server.url, login, "upload_json", upload)) == 9
    assert capsys.readouterr().err.startswith("foxden-transmit: ")


def test_an_unreachable_farm_exits_9(
    live_server: LiveServer,
    login: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    upload = tmp_path / "upload.json"
    upload.write_text(json.dumps({"asset": []}))
    port = str(free_port())
    monkeypatch.setenv("FOXDEN_SERVER", f"http://127.0.0.1:{port}")
    closed = argv("127.0.0.1", login, "upload_json", upload, **{"-P": port})
    assert main(closed) == 9
    assert f"cannot reach the farm at http://127.0.0.1:{port}" in capsys.readouterr().err
    monkeypatch.delenv("FOXDEN_SERVER")  # the SDK's farm, as the login names none
    nowhere = argv("http://no-such-host.invalid:8642", login, "upload_json", upload)
    assert main(nowhere) == 9
    assert "cannot reach the farm at http://no-such-host.invalid:8642" in capsys.readouterr().err


def test_the_key_goes_to_the_login_farm_only(
    live_server: LiveServer,
    login: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    upload = tmp_path / "upload.json"
    upload.write_text(json.dumps({"asset": []}))
    elsewhere = argv("http://127.0.0.1:1", login, "upload_json", upload)
    assert main(elsewhere) == 9
    err = capsys.readouterr().err
    assert "the SDK's farm (http://127.0.0.1:1) is not the farm of your foxden login" in err
    port = live_server.url.rsplit(":", 1)[1]
    as_host = argv("127.0.0.1", login, "upload_json", upload, **{"-P": port})
    assert main(as_host) == 0  # host and port, the same farm
    monkeypatch.setenv("FOXDEN_SERVER", f"127.0.0.1:{port}")  # stored as host:port
    assert main(argv(live_server.url, login, "upload_json", upload)) == 0


def test_upload_path_of_an_unknown_task_exits_9(
    live_server: LiveServer, login: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "task.json"
    config.write_text("{}")
    assert main(argv(live_server.url, login, "upload_path", config, "/999999/cfg/task.json")) == 9
    assert main(argv(live_server.url, login, "upload_path", config, "/x/task.json")) == 9
    assert "is not '/<task id>/cfg/<file name>'" in capsys.readouterr().err
    gone = tmp_path / "tips.json"
    assert main(argv(live_server.url, login, "upload_path", gone, "/1/cfg/tips.json")) == 11


def test_upload_path_stores_a_task_config(
    live_server: LiveServer, login: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    task_id = caller.call("/api/render/submit/createTask", {"count": 1})["taskIdList"][0]
    config = tmp_path / "task.json"
    config.write_text(json.dumps({"task_info": {"task_id": str(task_id)}}))
    remote = f"/{task_id}/cfg/task.json"
    assert main(argv(live_server.url, login, "upload_path", config, remote)) == 0
    assert f"task {task_id} config task.json" in capsys.readouterr().out
    with live_server.client(live_server.user_key) as http:
        stored = http.get(f"/api/tasks/{task_id}/configs/task.json")
    assert stored.status_code == 200 and stored.content == config.read_bytes()
    config.write_text("{not json")
    assert main(argv(live_server.url, login, "upload_path", config, remote)) == 9
    assert "task.json" in capsys.readouterr().err


def test_download_path_with_and_without_the_output_folder(
    sim_farm: SimFarm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOXDEN_SERVER", sim_farm.url)
    monkeypatch.setenv("FOXDEN_ACCOUNT", "alice")
    monkeypatch.setenv("FOXDEN_ACCESS_KEY", sim_farm.key)
    scene = tmp_path / "shot.txt"
    scene.write_text("a scene")
    with Client(sim_farm.url, sim_farm.key, progress=False) as client:
        account_id = client.me().id
        client.create_project("p", "command 1")
        client.upload([scene])
        task = client.wait(client.submit("p", scene, "1-2").id, poll=0.05, timeout=60)
        names = sorted(o.path.split("/", 1)[1] for o in client.outputs(task.id))
    assert len(names) == 2 and task.output_folder == f"{task.id}_shot"

    kept = tmp_path / "kept"
    run = argv(sim_farm.url, account_id, "download_path", kept, task.output_folder)
    assert main([*run, "-K", "true"]) == 0
    assert sorted(p.name for p in (kept / task.output_folder).iterdir()) == names
    flat = tmp_path / "flat"
    assert main(argv(sim_farm.url, account_id, "download_path", flat, task.output_folder)) == 0
    assert sorted(p.name for p in flat.iterdir()) == names

    victim = flat / names[0]
    victim.write_bytes(b"edited")
    before = (flat / names[1]).stat().st_mtime_ns
    assert main(argv(sim_farm.url, account_id, "download_path", flat, task.output_folder)) == 0
    assert victim.read_bytes() != b"edited"
    assert (flat / names[1]).stat().st_mtime_ns == before  # present and identical: kept

    other = f"{task.id}_elsewhere"
    assert main(argv(sim_farm.url, account_id, "download_path", flat, other)) == 9
    assert main(argv(sim_farm.url, account_id, "download_path", flat, "renders")) == 9


def test_install_writes_a_private_wrapper_the_sdk_can_run(
    live_server: LiveServer, login: int, tmp_path: Path
) -> None:
    folder = tmp_path / "transmitter"
    done = subprocess.run(
        [sys.executable, "-m", "foxden.client.transmit", "--install", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    exe = Path(done.stdout.strip())
    assert exe == folder / "foxden-transmit"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert os.access(exe, os.X_OK)

    scene = tmp_path / "scene.blend"
    scene.write_bytes(b"x" * 33)
    upload = tmp_path / "upload.json"
    upload.write_text(json.dumps({"asset": [{"local": str(scene), "server": "x"}]}))
    # as rayvision_sync runs it: a shell, `echo y|`, every value quoted
    args = argv(live_server.url, login, "upload_json", upload)
    line = f'echo y|"{exe}" ' + " ".join(
        f'{a} "{b}"' if a != "-p" else f"{a} {b}"
        for a, b in zip(args[::2], args[1::2], strict=True)
    )
    shell = subprocess.run(
        line, shell=True, capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )
    assert shell.returncode == 0, shell.stdout + shell.stderr
    assert tree(live_server.url, live_server.user_key, mirror(str(tmp_path))) == {
        mirror(str(scene)): 33
    }


def test_install_refuses_a_folder_with_other_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = tmp_path / "bin"
    shared.mkdir(mode=0o755)
    (shared / "python").write_text("not to be made world-writable")
    assert main(["--install", str(shared)]) == 9
    assert "holds other files (python)" in capsys.readouterr().err
    assert not (shared / "foxden-transmit").exists()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    again = tmp_path / "mine"
    assert main(["--install", str(again)]) == 0
    assert main(["--install", str(again)]) == 0  # installing again over its own wrapper


def test_install_on_windows_writes_a_cmd_wrapper(tmp_path: Path) -> None:
    exe = install(str(tmp_path / "t"), windows=True)
    assert exe.name == "foxden-transmit.cmd"
    text = exe.read_bytes().decode()
    assert f'@"{sys.executable}" -m foxden.client.transmit %*\r\n' in text


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ServerUnavailable("the farm is busy"), 10),
        (TooManyRequests("slow down"), 10),
        (StorageFull(), 10),
        (TransferError("arrived corrupted"), 10),
        (httpx.ReadTimeout("read timed out"), 10),
        (Unauthorized(), 9),
        (Forbidden(), 9),
        (NotFound(), 9),
        (BadRequest(), 9),
        (UntrustedCertificate(), 9),
        (PermissionError("cannot write"), 9),
    ],
)
def test_failures_map_to_the_sdks_exit_codes(error: BaseException, code: int) -> None:
    assert exit_code(error) == code
