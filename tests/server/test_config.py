"""Settings precedence: CLI > environment > config file > defaults."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from foxden.server.config import apply_log_level, load_settings


def test_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "foxden.toml"
    cfg.write_text('[server]\nport = 1111\nlease_seconds = 5\nhost = "0.0.0.0"\n')
    env = {"FOXDEN_PORT": "2222", "FOXDEN_LEASE_SECONDS": "7"}
    s = load_settings({"port": 3333, "data_dir": tmp_path}, environ=env, config_file=cfg)
    assert s.port == 3333  # CLI wins
    assert s.lease_seconds == 7  # env beats file
    assert s.host == "0.0.0.0"  # file beats default
    assert s.max_attempts == 3  # default


def test_config_file_found_in_data_dir(tmp_path: Path) -> None:
    (tmp_path / "foxden.toml").write_text("port = 4444\n")
    assert load_settings({"data_dir": tmp_path}, environ={}).port == 4444


def test_default_database_is_sqlite_in_data_dir(tmp_path: Path) -> None:
    s = load_settings({"data_dir": tmp_path}, environ={})
    assert s.db_url == f"sqlite:///{tmp_path.resolve() / 'foxden.db'}"


def test_bad_value_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="port"):
        load_settings({"data_dir": tmp_path}, environ={"FOXDEN_PORT": "not-a-port"})


@pytest.mark.parametrize(
    ("given", "foxden", "uvicorn"),
    [
        ("info", logging.INFO, "warning"),
        ("DEBUG", logging.DEBUG, "debug"),
        ("warning", logging.WARNING, "warning"),
        ("error", logging.ERROR, "error"),
    ],
)
def test_log_level_sets_foxdens_loggers(
    tmp_path: Path, given: str, foxden: int, uvicorn: str
) -> None:
    settings = load_settings({"data_dir": tmp_path}, environ={"FOXDEN_LOG_LEVEL": given})
    logger = logging.getLogger("foxden")
    try:
        assert apply_log_level(settings) == uvicorn
        assert logging.getLogger("foxden.server").getEffectiveLevel() == foxden
    finally:
        logger.setLevel(logging.NOTSET)


def test_unknown_log_level_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="log_level"):
        load_settings({"data_dir": tmp_path}, environ={"FOXDEN_LOG_LEVEL": "loud"})
