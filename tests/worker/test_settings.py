"""The worker's settings: sizes, the long poll's wait."""

from __future__ import annotations

from pathlib import Path

import pytest

from foxden.cli import main
from foxden.worker.settings import WorkerSettings, parse_size


def test_sizes_parse() -> None:
    assert parse_size("1000") == 1000
    assert parse_size("512M") == 512 << 20
    assert parse_size("20G") == 20 << 30
    assert parse_size("1.5GiB") == int(1.5 * (1 << 30))
    with pytest.raises(ValueError):
        parse_size("lots")


@pytest.mark.parametrize("wait", ["-1", "61", "nan"])
def test_a_claim_wait_out_of_range_is_refused_on_the_command_line(
    wait: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["worker", "--server", "http://127.0.0.1:1", "--join-key", "k"]
    argv += ["--cache", str(tmp_path), "--no-sandbox", "--claim-wait", wait]
    assert main(argv) == 1
    assert "claim_wait" in capsys.readouterr().err


def test_claim_wait_defaults_to_a_long_poll_of_20_seconds(tmp_path: Path) -> None:
    settings = WorkerSettings(server="http://farm.test", join_key="k", cache_dir=tmp_path)
    assert settings.claim_wait == 20.0
