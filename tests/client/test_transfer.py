"""Interrupted and corrupted transfers: resume where they stopped, re-send what was damaged;
small files moved in batches, and what a batch did not move intact moved alone."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest

from foxden.client.api import Client
from foxden.client.transfer import (
    BATCH_BYTES,
    BATCH_FILES,
    Chunk,
    plan_batches,
    safe_relative,
)
from foxden.errors import BadRequest
from tests.client.conftest import SimFarm, age
from tests.conftest import LiveServer

MIB = 1 << 20


class Abort(Exception):
    """Stands for the client being killed."""


def _big(tmp_path: Path, size: int = 5 * MIB) -> Path:
    path = tmp_path / "data" / "big.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    age(path.parent)
    return path


def _client(server: LiveServer, **kw: object) -> Client:
    return Client(server.url, server.user_key, chunk_size=MIB, progress=False, **kw)  # type: ignore[arg-type]


def _tree(server: LiveServer) -> dict[str, str]:
    with server.client(server.user_key) as http:
        return {f["path"]: f["hash"] for f in http.get("/api/files").json()}


def test_killed_upload_resumes_without_resending(live_server: LiveServer, tmp_path: Path) -> None:
    path = _big(tmp_path)
    seen: list[int] = []

    def kill_after_two(chunk: Chunk) -> None:
        if chunk.offset >= 2 * MIB:
            raise Abort
        seen.append(chunk.offset)

    with _client(live_server) as client, pytest.raises(Abort):
        client.upload([path], chunk_hook=kill_after_two)
    assert seen == [0, MIB]
    assert str(path) not in _tree(live_server)  # nothing recorded before the content arrived

    with _client(live_server) as client:
        stats = client.upload([path])
    assert stats.resumed == 1
    assert stats.bytes_sent == 3 * MIB  # only what had not arrived
    assert stats.chunks_sent == 3 and stats.files_sent == 1
    assert _tree(live_server)[str(path)] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_corrupted_chunk_is_rejected_and_sent_again(
    live_server: LiveServer, tmp_path: Path
) -> None:
    path = _big(tmp_path, 3 * MIB + 123)
    damaged: list[int] = []

    def flip_once(chunk: Chunk) -> None:
        if chunk.offset == MIB and not damaged:
            damaged.append(chunk.offset)
            chunk.data = bytes([chunk.data[0] ^ 0xFF]) + chunk.data[1:]

    with _client(live_server) as client:
        stats = client.upload([path], chunk_hook=flip_once)
    assert damaged == [MIB]
    assert stats.chunks_resent == 1
    assert stats.bytes_sent == path.stat().st_size + MIB  # the damaged chunk went twice
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert _tree(live_server)[str(path)] == digest
    assert live_server.farm.store.path(digest).read_bytes() == path.read_bytes()


def test_first_failure_stops_a_parallel_upload(live_server: LiveServer, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(40):
        (folder / f"f{i:02d}.bin").write_bytes(os.urandom(2000 + i))
    calls: list[str] = []

    def fail_first(chunk: Chunk) -> None:
        calls.append(chunk.digest)
        raise Abort

    with _client(live_server, workers=2) as client, pytest.raises(Abort):
        client.upload([folder], chunk_hook=fail_first)
    assert len(calls) <= 4  # the rest were cancelled, not sent


def test_partial_download_resumes_with_range(sim_farm: SimFarm, tmp_path: Path) -> None:
    path = _big(tmp_path, 2 * MIB + 5)
    with Client(sim_farm.url, sim_farm.key, progress=False) as client:
        client.create_project("p", "command 1")
        client.upload([path])
        task = client.submit("p", path, "1-3")
        task = client.wait(task.id, poll=0.05, timeout=60)
        outputs = client.outputs(task.id)
        out = tmp_path / "out"
        first = out / outputs[0].path
        first.parent.mkdir(parents=True)
        blob = sim_farm.server.farm.store.path(outputs[0].hash).read_bytes()
        part = first.with_name(f".{first.name}.foxden-part")
        part.write_bytes(blob[:100])  # an interrupted download
        second = out / outputs[1].path
        bad_part = second.with_name(f".{second.name}.foxden-part")
        bad_part.write_bytes(b"garbage!")  # a damaged partial file: must be fetched again
        stats = client.download(task.id, out)
    assert stats.files_fetched == 3 and stats.resumed == 2
    total = sum(o.size for o in outputs)
    assert stats.bytes_fetched == total - 100 + outputs[1].size - 8
    for o in outputs:
        assert hashlib.sha256((out / o.path).read_bytes()).hexdigest() == o.hash
    assert not list(out.rglob("*.foxden-part"))


def test_changed_download_is_fetched_again(sim_farm: SimFarm, tmp_path: Path) -> None:
    path = _big(tmp_path, 1000)
    with Client(sim_farm.url, sim_farm.key, progress=False) as client:
        client.create_project("p", "command 1")
        client.upload([path])
        task = client.wait(client.submit("p", path, "1-2").id, poll=0.05, timeout=60)
        out = tmp_path / "out"
        client.download(task.id, out)
        victim = out / client.outputs(task.id)[0].path
        victim.write_bytes(b"edited by hand")
        stats = client.download(task.id, out)
        assert stats.files_fetched == 1 and stats.files_skipped == 1
        forced = client.download(task.id, out, force=True)
        assert forced.files_fetched == 2


@pytest.mark.parametrize(
    "bad", ["/etc/passwd", "../x.png", "a/../../x", "C:/x", "a//b", "\\\\srv\\x", ""]
)
def test_unsafe_output_paths_are_refused(bad: str) -> None:
    with pytest.raises(BadRequest):
        safe_relative(bad)


def test_safe_output_path() -> None:
    assert str(safe_relative("12_shot/shot_0001.png")) == "12_shot/shot_0001.png"


def test_manifest_paths_mirroring_to_one_tree_path(live_server: LiveServer) -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    entries = [{"path": p, "size": 1, "hash": digest} for p in ("V:\\a\\b.txt", "v:/a/b.txt")]
    with live_server.client(live_server.user_key) as http:
        assert http.post("/api/files/check", json={"files": entries}).json()["missing"] == [digest]
        http.put(f"/api/uploads/{digest}", params={"offset": 0, "total": 1}, content=b"x")
        assert http.post("/api/files/commit", json={"files": entries}).status_code == 200
        assert http.post("/api/files/check", json={"files": entries}).json()["missing"] == []
    assert _tree(live_server) == {"/v/a/b.txt": digest}


def _small_tree(tmp_path: Path, count: int) -> Path:
    root = tmp_path / "shots"
    for i in range(count):
        path = root / f"s{i % 3}" / f"f{i:03d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(100 + 37 * i))
    (root / "empty.txt").write_bytes(b"")
    age(root)
    return root


def test_many_small_files_go_up_in_batches(live_server: LiveServer, tmp_path: Path) -> None:
    root = _small_tree(tmp_path, 150)
    big = _big(tmp_path, 2 * MIB + 1)  # big files keep the chunked path
    with _client(live_server, workers=4) as client:
        stats = client.upload([root, big])
        again = client.upload([root, big])
    assert stats.files_sent == 152 and stats.batch_fallbacks == 0
    assert 1 <= stats.batches_sent <= 10  # not one request per file
    assert stats.chunks_sent == 3  # the big file only
    sizes = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert stats.bytes_sent == sizes + big.stat().st_size
    assert again.bytes_sent == 0 and again.batches_sent == 0
    tree = _tree(live_server)
    for path in [*root.rglob("*.*"), big]:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert tree[str(path)] == digest
        assert live_server.farm.store.path(digest).read_bytes() == path.read_bytes()


def test_files_of_a_few_mib_go_up_in_batches_and_those_past_a_chunk_in_chunks(
    live_server: LiveServer, tmp_path: Path
) -> None:
    folder = tmp_path / "mid"
    folder.mkdir()
    sizes = [MIB, 2 * MIB + 5, 3 * MIB, 7 * MIB]  # a request each, before: 1 MiB was the limit
    for i, size in enumerate(sizes):
        (folder / f"m{i}.bin").write_bytes(os.urandom(size))
    age(folder)
    with Client(live_server.url, live_server.user_key, progress=False, workers=2) as client:
        stats = client.upload([folder])  # chunks of 32 MiB, the default
    assert stats.files_sent == 4 and stats.chunks_sent == 0 and stats.batches_sent >= 1
    assert stats.bytes_sent == sum(sizes)
    tree = _tree(live_server)
    for path in folder.iterdir():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert tree[str(path)] == digest
        assert live_server.farm.store.path(digest).read_bytes() == path.read_bytes()
    with Client(
        live_server.url, live_server.user_key, chunk_size=2 * MIB, progress=False
    ) as client:
        (folder / "m9.bin").write_bytes(os.urandom(5 * MIB))
        age(folder)
        stats = client.upload([folder / "m9.bin"])  # past its chunk: chunked, resumable
    assert stats.chunks_sent == 3 and stats.batches_sent == 0


def test_blob_refused_in_a_batch_is_sent_again_alone(
    live_server: LiveServer, tmp_path: Path
) -> None:
    root = _small_tree(tmp_path, 20)
    victim = sorted(root.rglob("*.bin"))[5]
    damaged: list[Path] = []

    def flip_once(chunk: Chunk) -> None:
        if chunk.path == victim and not damaged:
            damaged.append(chunk.path)
            chunk.data = bytes([chunk.data[0] ^ 0xFF]) + chunk.data[1:]

    with _client(live_server) as client:
        stats = client.upload([root], chunk_hook=flip_once)
    assert damaged == [victim]
    assert stats.batches_sent == 1 and stats.batch_fallbacks == 1 and stats.chunks_sent == 1
    assert stats.files_sent == 21
    digest = hashlib.sha256(victim.read_bytes()).hexdigest()
    assert _tree(live_server)[str(victim)] == digest
    assert live_server.farm.store.path(digest).read_bytes() == victim.read_bytes()


class _FarmWithoutBatches(httpx.HTTPTransport):
    """A farm from before batches (405 to them), or one whose batch replies get damaged."""

    def __init__(self, *, damage: bool = False) -> None:
        super().__init__()
        self.damage = damage
        self.batches = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/batch"):
            return super().handle_request(request)
        self.batches += 1
        if not self.damage:
            return httpx.Response(405, json={"detail": "Method Not Allowed"})
        reply = super().handle_request(request)
        if request.url.path != "/api/blobs/batch":
            return reply
        body = bytearray(reply.read())
        body[0] ^= 0xFF  # the first blob of every batch arrives damaged
        return httpx.Response(reply.status_code, headers=reply.headers, content=bytes(body))


def test_small_outputs_come_down_in_batches(sim_farm: SimFarm, tmp_path: Path) -> None:
    scene = _big(tmp_path, 1000)
    with Client(sim_farm.url, sim_farm.key, progress=False, workers=3) as client:
        client.create_project("p", "command 1")
        client.upload([scene])
        task = client.wait(client.submit("p", scene, "1-40").id, poll=0.05, timeout=60)
        outputs = client.outputs(task.id)
        stats = client.download(task.id, tmp_path / "out")
        again = client.download(task.id, tmp_path / "out")
    assert len(outputs) == 40
    assert stats.files_fetched == 40 and stats.batch_fallbacks == 0
    assert 1 <= stats.batches_fetched <= 3
    assert stats.bytes_fetched == sum(o.size for o in outputs)
    assert again.files_fetched == 0 and again.batches_fetched == 0
    for o in outputs:
        assert hashlib.sha256((tmp_path / "out" / o.path).read_bytes()).hexdigest() == o.hash
    assert not list((tmp_path / "out").rglob("*.foxden-part"))


@pytest.mark.parametrize("damage", [False, True])
def test_batches_fall_back_to_one_file_at_a_time(
    sim_farm: SimFarm, tmp_path: Path, damage: bool
) -> None:
    root = _small_tree(tmp_path, 12)
    farm = _FarmWithoutBatches(damage=damage)
    with Client(sim_farm.url, sim_farm.key, progress=False, workers=2, transport=farm) as client:
        client.create_project("p", "command 1")
        up = client.upload([root])
        scene = sorted(root.rglob("*.bin"))[0]
        task = client.wait(client.submit("p", scene, "1-6").id, poll=0.05, timeout=60)
        outputs = client.outputs(task.id)
        down = client.download(task.id, tmp_path / "out")
    if damage:  # uploads went in batches (their replies are JSON, left alone here)
        assert up.batches_sent >= 1 and up.batch_fallbacks == 0
        assert down.batches_fetched >= 1 and down.batch_fallbacks == down.batches_fetched
    else:  # no batches at all: every file went alone
        assert up.batches_sent == 0 and up.batch_fallbacks == 13 and up.chunks_sent == 13
        assert down.batches_fetched == 0 and down.batch_fallbacks == 6
    assert up.files_sent == 13 and down.files_fetched == 6
    assert farm.batches >= 2
    for o in outputs:
        assert hashlib.sha256((tmp_path / "out" / o.path).read_bytes()).hexdigest() == o.hash


def test_plan_batches_keeps_order_and_limits() -> None:
    sizes = [10] * 1200
    batches = plan_batches(sizes, lambda n: n, workers=2)
    assert [n for b in batches for n in b] == sizes
    assert all(len(b) <= BATCH_FILES for b in batches) and len(batches) == 3
    big = [MIB - 1] * 40
    batches = plan_batches(big, lambda n: n, workers=1)
    assert all(sum(b) <= BATCH_BYTES for b in batches) and [len(b) for b in batches] == [16, 16, 8]
    few = plan_batches([1000] * 64, lambda n: n, workers=8)
    assert [len(b) for b in few] == [64]  # tiny: not split below MIN_BATCH_BYTES
    spread = plan_batches([100_000] * 64, lambda n: n, workers=8)
    assert len(spread) == 8  # enough work to keep eight transfers busy
    assert plan_batches([], lambda n: n, workers=4) == []
