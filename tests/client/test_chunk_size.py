"""A big file's upload goes in chunks of `CHUNK_SIZE` (32 MiB) unless the client is given
another size: fewer requests for the farm, each streamed from the file."""

from __future__ import annotations

from pathlib import Path

from foxden.client.api import CHUNK_SIZE, Client
from foxden.client.hashcache import HashCache
from tests.conftest import LiveServer


def test_a_big_file_goes_in_chunks_of_the_default_size(
    live_server: LiveServer, tmp_path: Path
) -> None:
    assert CHUNK_SIZE == 32 << 20
    scene = tmp_path / "big.bin"
    with scene.open("wb") as f:  # just over one chunk: two requests
        for i in range(33):
            f.write(bytes([i]) * (1 << 20))
    cache = HashCache(tmp_path / "cache.sqlite")
    with Client(live_server.url, live_server.user_key, progress=False, cache=cache) as client:
        assert client.chunk_size == CHUNK_SIZE
        stats = client.upload([str(scene)])
    assert (stats.files_sent, stats.chunks_sent, stats.bytes_sent) == (1, 2, 33 << 20)
    small = tmp_path / "again.bin"
    small.write_bytes(scene.read_bytes()[: 5 << 20] + b"x")
    with Client(
        live_server.url, live_server.user_key, progress=False, cache=cache, chunk_size=1 << 20
    ) as client:
        assert client.upload([str(small)]).chunks_sent == 6  # a size given is kept
