"""BatchWriter: an upload batch's members written as the body arrives, in pieces of any size."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from foxden.store.blobs import BlobStore


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("piece", [1, 7, 1000, 1 << 20])
def test_members_split_across_pieces_are_written_checked_and_placed(
    tmp_path: Path, piece: int
) -> None:
    store = BlobStore(tmp_path / "blobs")
    members = [b"", os.urandom(3000), b"", b"abc", os.urandom(10), b""]
    entries = [(_sha(m), len(m)) for m in members[:2]] + [("0" * 64, 0)]
    entries += [(_sha(m), len(m)) for m in members[3:5]] + [("1" * 64, 0)]
    body = b"".join(members)
    writer = store.batch_writer(entries)
    for start in range(0, len(body), piece * 3):
        writer.write([body[start : start + piece], body[start + piece : start + piece * 3]])
    assert writer.finished()
    assert writer.received == len(body) and writer.extra == 0
    # "0"*64 and "1"*64 are not the hash of no bytes: refused, the rest placed
    assert [digest for digest, _ in writer.refused] == ["0" * 64, "1" * 64]
    placed = writer.place()
    assert placed == [(_sha(m), len(m)) for m in (b"", members[1], b"abc", members[4])]
    for member in members:
        assert store.path(_sha(member)).read_bytes() == member
    assert list((store.root / "partial").iterdir()) == []


def test_a_batch_cut_short_is_discarded_whole(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    first, second = os.urandom(5000), os.urandom(5000)
    writer = store.batch_writer([(_sha(first), 5000), (_sha(second), 5000)])
    writer.write([first, second[:4999]])
    assert not writer.finished()
    assert len(writer.ready) == 1  # the first verified, but is not in the store yet
    assert not store.exists(_sha(first))
    writer.discard()
    assert not store.exists(_sha(first)) and not store.exists(_sha(second))
    assert list((store.root / "partial").iterdir()) == []


def test_bytes_past_the_last_member_are_counted_not_written(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    writer = store.batch_writer([(_sha(b"abc"), 3)])
    writer.write([b"abcdef"])
    assert writer.finished() and writer.received == 3 and writer.extra == 3
    writer.discard()
    assert list((store.root / "partial").iterdir()) == []


def test_placed_members_are_served_without_hashing_them_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BlobStore(tmp_path / "blobs")
    members = [os.urandom(100), os.urandom(2000)]
    writer = store.batch_writer([(_sha(m), len(m)) for m in members])
    writer.write(members)
    assert writer.finished()
    writer.place()

    def rehash(digest: str) -> bool:
        raise AssertionError(f"{digest} was hashed again")

    monkeypatch.setattr(store, "verify", rehash)
    for member in members:  # the writer's own stat of each file marked it verified
        path = store.intact_path(_sha(member))
        assert path is not None and path.read_bytes() == member


def test_a_blob_gets_folders_only_its_owner_reads_even_where_one_was_looser(
    tmp_path: Path,
) -> None:
    store = BlobStore(tmp_path / "blobs")
    data = os.urandom(500)
    digest = _sha(data)
    (store.root / digest[:2]).mkdir(mode=0o755)  # as an older or hand-made store may have
    os.chmod(store.root / digest[:2], 0o755)
    writer = store.batch_writer([(digest, len(data))])
    writer.write([data])
    assert writer.finished()
    writer.place()
    leaf = store.path(digest).parent
    assert stat.S_IMODE(leaf.stat().st_mode) == 0o700
    assert stat.S_IMODE(leaf.parent.stat().st_mode) == 0o700
    assert store.path(digest).read_bytes() == data
