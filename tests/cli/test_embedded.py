"""`foxden up`: the embedded farm's credentials."""

from __future__ import annotations

from pathlib import Path


def test_foxden_up_credentials_are_made_once_and_checked(tmp_path: Path) -> None:
    from foxden.cli.embedded import ensure_credentials
    from foxden.server.config import Settings
    from foxden.server.context import Farm

    farm = Farm.open(Settings(data_dir=tmp_path / "farm"))
    try:
        url = "http://127.0.0.1:8642"
        creds, created = ensure_credentials(farm, farm.settings.data_dir, url)
        path = farm.settings.data_dir / "credentials.json"
        assert created and path.stat().st_mode & 0o777 == 0o600
        assert creds["render_server"] == url and creds["access_key"]
        assert ensure_credentials(farm, farm.settings.data_dir, url) == (creds, False)
        path.write_text('{"render_server": "x", "account": "admin", "access_key": "fdk_bad"}')
        fresh, created = ensure_credentials(farm, farm.settings.data_dir, url)
        assert created and fresh["access_key"] != "fdk_bad" and fresh["account"] != "admin"
    finally:
        farm.close()
