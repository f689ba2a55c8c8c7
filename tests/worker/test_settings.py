"""The worker's settings: sizes."""

from __future__ import annotations

import pytest

from foxden.worker.settings import parse_size


def test_sizes_parse() -> None:
    assert parse_size("1000") == 1000
    assert parse_size("512M") == 512 << 20
    assert parse_size("20G") == 20 << 30
    assert parse_size("1.5GiB") == int(1.5 * (1 << 30))
    with pytest.raises(ValueError):
        parse_size("lots")
