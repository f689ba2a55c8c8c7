"""The client's settings: server addresses and the stored login."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from foxden.client.settings import Login, load_login, save_login, server_url
from foxden.errors import BadRequest, Unauthorized


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("farm", "http://farm:8642"),
        ("www5.renderbus.com", "http://www5.renderbus.com:8642"),
        ("farm:9000", "http://farm:9000"),
        ("127.0.0.1:80", "http://127.0.0.1:80"),
        ("https://farm.example.com/", "https://farm.example.com"),
        ("http://farm:1/base", "http://farm:1/base"),
    ],
)
def test_server_url(given: str, url: str) -> None:
    assert server_url(given) == url


@pytest.mark.parametrize("bad", ["", "ftp://x", "a b", "farm/x"])
def test_bad_server_url(bad: str) -> None:
    with pytest.raises(BadRequest):
        server_url(bad)


def test_login_file_is_private_and_env_overrides(tmp_path: Path) -> None:
    path = save_login(Login("http://farm:8642", "alice", "k1"), tmp_path / "c.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_login({}, path) == Login("http://farm:8642", "alice", "k1")
    env = {"FOXDEN_SERVER": "other:1", "FOXDEN_ACCESS_KEY": "k2"}
    assert load_login(env, path) == Login("other:1", "alice", "k2")
    with pytest.raises(Unauthorized, match="foxden login"):
        load_login({}, tmp_path / "none.json")
