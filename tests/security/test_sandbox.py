"""Renderers run in the worker's sandbox: a tenant's scene or command reaches only its own work.

Each attack runs for real: a .blend whose text block is registered to run at load, rendered by
the real Blender through a real farm and a real `foxden worker`; a command task that goes after
the join key, the data dir, the worker's cache, another account's running lease, /root, /home,
the environment and the network; programs that run into the resource limits; and workers
started without the sandbox or without bubblewrap.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from foxden.farm.rights import set_project_rights
from foxden.farm.workers import list_workers
from tests.conftest import LiveServer
from tests.farmkit import make_project, submit, upload
from tests.scenes import MAKE_SCENES, blender_exe
from tests.waiting import wait_until
from tests.worker.conftest import WorkerProc, upload_folder, wait_task
from tests.worker.conftest import spawn_worker as spawn_worker_fixture  # noqa: F401


@pytest.fixture
def spawn(request: pytest.FixtureRequest) -> Callable[..., WorkerProc]:
    """Start `foxden worker` processes (tests/worker/conftest.py's spawn_worker)."""
    spawner: Callable[..., WorkerProc] = request.getfixturevalue("spawn_worker_fixture")
    return spawner


sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
ADMIN_SECRET = "fda_ADMIN-KEY-SECRET-7f3a"
OTHER_SECRET = "OTHER-LEASE-SECRET-91c2"
BOB_SECRET = "BOB-INPUT-SECRET-5d0e"

# Runs inside Blender when the scene loads (a text block with use_module = True).
ATTACK_PY = r"""
import json, os, socket
T = json.loads(TARGETS)

def probe(fn):
    try:
        return "GOT " + repr(fn())[:3000]
    except Exception as exc:
        return "DENIED " + type(exc).__name__

def read(path):
    with open(path) as fh:
        return fh.read()

def connect():
    socket.create_connection(("127.0.0.1", T["port"]), timeout=3).close()
    return "connected"

report = {
    "join_key": probe(lambda: read(T["data"] + "/join_key")),
    "credentials": probe(lambda: read(T["data"] + "/credentials.json")),
    "data_dir": probe(lambda: os.listdir(T["data"])),
    "cache_blobs": probe(lambda: os.listdir(T["cache"] + "/blobs")),
    "other_lease": probe(lambda: read(T["other"])),
    "root": probe(lambda: os.listdir("/root")),
    "home": probe(lambda: os.listdir("/home")),
    "server": probe(connect),
    "work": probe(lambda: os.listdir(T["cache"] + "/work")),
    "env": probe(lambda: dict(os.environ)),
}
print("ATTACK_REPORT " + json.dumps(report), flush=True)
"""

BUILD_PY = r"""
import sys
from pathlib import Path
import bpy
args = sys.argv[sys.argv.index("--") + 1:]
sys.path.insert(0, args[0])
import make_scenes
out = Path(args[1])
make_scenes.build_anim(out, frames=2)
text = bpy.data.texts.new("attack.py")
text.write(Path(args[2]).read_text())
text.use_module = True
make_scenes._save(out / "attack.blend")
"""


def _farm_secrets(live: LiveServer) -> list[str]:
    """What the attacks are after, planted where `foxden up` keeps it."""
    creds = live.data_dir / "credentials.json"
    creds.write_text(json.dumps({"account": "admin", "access_key": ADMIN_SECRET}))
    creds.chmod(0o600)
    return [live.farm.join_key, ADMIN_SECRET, OTHER_SECRET, BOB_SECRET]


def _plant_other_lease(worker: WorkerProc) -> Path:
    """A file in another lease's workspace of the same worker."""
    secret = worker.cache / "work" / "task-999-lease-999" / "tree" / "v" / "secret.txt"
    secret.parent.mkdir(parents=True)
    secret.write_text(OTHER_SECRET)
    return secret


def _logs(user: httpx.Client, task_id: int, frames: list[int]) -> str:
    return "\n".join(user.get(f"/api/tasks/{task_id}/frames/{f}/log").text for f in frames)


def _outputs(user: httpx.Client, task_id: int) -> list[bytes]:
    manifest = user.get(f"/api/tasks/{task_id}/outputs")
    assert manifest.status_code == 200, manifest.text
    return [user.get(f"/api/blobs/{o['hash']}").content for o in manifest.json()]


def _pixels(png: bytes) -> bytes:
    with Image.open(io.BytesIO(png)) as img:
        return img.convert("RGBA").tobytes()


def _assert_nothing_leaked(secrets: list[str], *texts: str | bytes) -> None:
    for text in texts:
        data = text.encode() if isinstance(text, str) else text
        for secret in secrets:
            assert secret.encode() not in data, f"{secret!r} leaked"
        assert b"FOXDEN_JOIN_KEY" not in data


@pytest.mark.blender
@sqlite_only
def test_a_blend_that_runs_a_script_at_load(
    live_server: LiveServer, spawn: Callable[..., WorkerProc], tmp_path: Path
) -> None:
    secrets = _farm_secrets(live_server)
    worker = spawn("w1")
    other = _plant_other_lease(worker)
    targets = {
        "data": str(live_server.data_dir),
        "cache": str(worker.cache),
        "other": str(other),
        "port": live_server.farm.settings.port,
    }
    attack = tmp_path / "attack.py"
    attack.write_text(f"TARGETS = {json.dumps(json.dumps(targets))}\n{ATTACK_PY}")
    scenes = tmp_path / "scenes"
    built = subprocess.run(
        [
            *(blender_exe(), "-b", "--factory-startup", "-noaudio", "--python-exit-code", "1"),
            *("--python-expr", BUILD_PY, "--", str(MAKE_SCENES.parent), str(scenes), str(attack)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (scenes / "anim.blend").unlink()

    user = live_server.client(live_server.user_key)
    upload_folder(user, scenes)
    results: dict[str, dict[str, Any]] = {}
    for project in ("plain", "scripted"):
        make_project(user, project, soft="blender 3.4")
        if project == "scripted":  # what an administrator allows, and only they
            set_project_rights(live_server.farm.db, "alice", project, allow_scripts=True)
        task = submit(
            user,
            project_name=project,
            input_scene_path="/v/project/shot/attack.blend",
            frames="1-2",
            chunk_size=2,
        )
        final = wait_task(user, task["id"], ("done", "failed"), timeout=120)
        assert final["status"] == "done", final
        log = _logs(user, task["id"], [1, 2])
        outputs = _outputs(user, task["id"])
        assert len(outputs) == 2
        for data in outputs:
            assert data.startswith(b"\x89PNG")
            assert Image.open(io.BytesIO(data)).size == (64, 48)
        _assert_nothing_leaked(secrets, log, *outputs)
        results[project] = {"log": log, "outputs": outputs}

    # Scripts not allowed: the text block never ran (Blender says so), the frames rendered.
    plain = results["plain"]["log"]
    assert "ATTACK_REPORT" not in plain
    assert "scripts did not run" in plain
    # Scripts allowed: it ran inside the sandbox and saw none of the worker's things.
    scripted = results["scripted"]["log"]
    line = next(x for x in scripted.splitlines() if x.startswith("ATTACK_REPORT "))
    report = json.loads(line.split(" ", 1)[1])
    for probe in ("join_key", "credentials", "data_dir", "cache_blobs", "other_lease"):
        assert report[probe].startswith("DENIED"), (probe, report[probe])
    for probe in ("root", "home", "server"):
        assert report[probe].startswith("DENIED"), (probe, report[probe])
    assert "task-999-lease-999" not in report["work"]  # only its own workspace is there
    assert "FOXDEN_JOIN_KEY" not in report["env"] and "HOME" in report["env"]
    # Both renders are the same image: scripts or not, sandbox or not, the frames are right.
    assert [_pixels(d) for d in results["plain"]["outputs"]] == [
        _pixels(d) for d in results["scripted"]["outputs"]
    ]
    assert other.read_text() == OTHER_SECRET


COMMAND_ATTACK = r"""
out="$FOXDEN_OUTPUT_DIR/leak_$(printf %04d "$FOXDEN_FRAMES").txt"
{
echo "== join key"; cat "$DATA/join_key"
echo "== credentials"; cat "$DATA/credentials.json"
echo "== data dir"; ls -la "$DATA"
echo "== cache"; ls -laR "$CACHE"
echo "== other leases"; cat "$CACHE"/work/*/tree/v/bob/*; find "$CACHE" -type f -exec cat {} +
echo "== root"; ls -la /root
echo "== home"; ls -la /home
echo "== proc"; cat /proc/*/environ | tr '\0' '\n'
echo "== env"; env
echo "== net"; python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), timeout=3); print('CONN' + 'ECTED')"
echo "== done"
} > "$out" 2>&1
cat "$out"
"""


@sqlite_only
def test_a_command_task_goes_after_the_workers_secrets(
    live_server: LiveServer, spawn: Callable[..., WorkerProc]
) -> None:
    secrets = _farm_secrets(live_server)
    worker = spawn("w1", "--slots", "2")
    # Another account's task holds a lease on the same worker while the attack runs.
    bob = live_server.client(live_server.new_account("bob", trusted=True))
    make_project(bob, "victim")
    upload(bob, "/v/bob/secret.txt", BOB_SECRET.encode())
    victim = submit(
        bob,
        project_name="victim",
        input_scene_path="/v/bob/secret.txt",
        frames="1",
        options={"command": ["sleep", "30"], "expect_outputs": False},
    )
    bob_tree = worker.cache / "work"
    wait_until(
        "bob's lease to run",
        lambda: list(bob_tree.glob(f"task-{victim['id']}-lease-*/tree/v/bob/secret.txt")),
    )

    user = live_server.client(live_server.user_key)  # alice, trusted with command tasks
    make_project(user, "cmd")
    upload(user, "/v/alice/attack.sh", COMMAND_ATTACK.encode())
    task = submit(
        user,
        project_name="cmd",
        input_scene_path="/v/alice/attack.sh",
        frames="1",
        options={
            "command": ["sh", "{scene}"],
            "outputs": "leak_{frame:04d}.txt",
            "env": {
                "DATA": str(live_server.data_dir),
                "CACHE": str(worker.cache),
                "PORT": str(live_server.farm.settings.port),
            },
        },
    )
    final = wait_task(user, task["id"], ("done", "failed"), timeout=60)
    assert final["status"] == "done", final
    log = _logs(user, task["id"], [1])
    (leak,) = _outputs(user, task["id"])
    assert leak.decode().rstrip().endswith("== done")  # the whole attack ran
    _assert_nothing_leaked(secrets, log, leak)
    text = leak.decode()
    assert "CONNECTED" not in text, text
    assert "FOXDEN_OUTPUT_DIR=" in text  # its own variables are there, the worker's are not
    env = text.split("\n== env\n", 1)[1].split("\n== net\n", 1)[0]
    names = sorted(line.split("=", 1)[0] for line in env.strip().splitlines())
    assert set(names) <= {
        "PATH", "HOME", "TMPDIR", "LANG", "PWD", "DATA", "CACHE", "PORT",
        "FOXDEN_OUTPUT_DIR", "FOXDEN_WORKSPACE", "FOXDEN_TASK_ID", "FOXDEN_FRAMES",
    }, names  # fmt: skip
    # bob's input was there on the host all along, and bob's task is untouched.
    assert list(bob_tree.glob(f"task-{victim['id']}-lease-*/tree/v/bob/secret.txt"))
    assert wait_task(bob, victim["id"], ("rendering", "done"))["status"] in ("rendering", "done")


LIMITS_PY = r"""
import subprocess, sys, os
frame = int(sys.argv[1])
out = os.environ["FOXDEN_OUTPUT_DIR"]
if frame == 1:
    data = bytearray(400 << 20)
elif frame == 2:
    with open(f"{out}/big_0002.bin", "wb") as fh:
        fh.write(b"x" * (2 << 20))
elif frame == 3:
    while True:
        pass
elif frame == 4:
    children = [subprocess.Popen(["sleep", "5"]) for _ in range(60)]
with open(f"{out}/ok_{frame:04d}.txt", "w") as fh:
    fh.write("fine\n")
"""


@sqlite_only
def test_resource_limits_fail_the_frame_with_a_clear_reason(
    live_server: LiveServer, spawn: Callable[..., WorkerProc]
) -> None:
    spawn(
        "w1",
        *("--max-memory", "200M", "--max-file-size", "1M"),
        *("--max-cpu-seconds", "2", "--max-processes", "30"),
    )
    user = live_server.client(live_server.user_key)
    make_project(user, "cmd")
    upload(user, "/v/alice/limits.py", LIMITS_PY.encode())
    task = submit(
        user,
        project_name="cmd",
        input_scene_path="/v/alice/limits.py",
        frames="1-5",
        chunk_size=5,
        max_attempts=1,
        options={"command": ["python3", "{scene}", "{frame}"], "outputs": "ok_{frame:04d}.txt"},
    )
    final = wait_task(user, task["id"], ("done", "failed"), timeout=90)
    frames = {f["number"]: f for f in final["frames_detail"]}
    assert [frames[n]["status"] for n in (1, 2, 3, 4, 5)] == ["failed"] * 4 + ["done"], final
    assert "out of memory: the limit is 200 MiB per process" in frames[1]["error"]
    assert "MemoryError" in _logs(user, task["id"], [1])
    assert "file size limit (1 MiB)" in frames[2]["error"]
    assert "CPU time limit (2 s per process" in frames[3]["error"]
    assert "cannot start more processes: the limit is 30" in frames[4]["error"]
    categories = [frames[n]["failure_category"] for n in (1, 2, 3, 4)]
    assert categories == ["out_of_memory", "sandbox_refusal", "timeout", "sandbox_refusal"]


@sqlite_only
def test_worker_without_sandbox_says_so_and_without_bubblewrap_refuses(
    live_server: LiveServer, spawn: Callable[..., WorkerProc]
) -> None:
    boxed = spawn("boxed")
    unboxed = spawn("unboxed", "--no-sandbox")
    workers = {w.name: w for w in list_workers(live_server.farm.db)}
    assert workers["boxed"].sandboxed is True
    assert workers["unboxed"].sandboxed is False
    assert "WARNING" in unboxed.log and "WITHOUT the sandbox" in unboxed.log
    assert "trusted, single-user farms only" in unboxed.log
    assert "WITHOUT" not in boxed.log and "bubblewrap sandbox" in boxed.log

    broken = spawn("broken", "--bwrap", "/nonexistent/bwrap", wait=False)
    assert broken.proc.wait(timeout=60) != 0
    assert "refusing to take work" in broken.log
    assert "bubblewrap" in broken.log and "--no-sandbox" in broken.log
    assert "broken" not in {w.name for w in list_workers(live_server.farm.db)}


def test_help_documents_no_sandbox() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "foxden.cli", "worker", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--no-sandbox" in proc.stdout
    text = re.sub(r"-\s+", "-", " ".join(proc.stdout.split()))  # argparse wraps at hyphens
    assert "trusted, single-user farms only" in text
