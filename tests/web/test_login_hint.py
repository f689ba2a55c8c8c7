"""The login page's hint on where the access key is fits both kinds of reader."""

from __future__ import annotations

from tests.conftest import LiveServer


def test_the_key_hint_fits_foxden_up_users_and_team_farms(live_server: LiveServer) -> None:
    with live_server.client() as anon:
        page = anon.get("/login")
    assert page.status_code == 200
    hint = page.text.split('id="key-help"', 1)[1].split("</p>", 1)[0]
    assert "<code>foxden up</code>" in hint and "credentials.json" in hint  # their own farm
    assert "administrator" in hint  # a team's farm
    assert "foxden account create" not in hint  # a command only the farm's admin runs
