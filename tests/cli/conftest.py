"""The client's fixtures (a live farm with a simulated render node, a project tree) for the CLI
tests, and `farm`: a live farm with a user and a worker for the `foxden` commands."""

from collections.abc import Iterator

import pytest

from tests.cli.clikit import CliFarm, cli_farm
from tests.client.conftest import _client_dirs, project_tree, sim_farm
from tests.conftest import LiveServer

__all__ = ["_client_dirs", "farm", "project_tree", "sim_farm"]


@pytest.fixture
def farm(live_server: LiveServer) -> Iterator[CliFarm]:
    """`cli_farm` of the live server; its clients closed after the test."""
    ready = cli_farm(live_server)
    try:
        yield ready
    finally:
        ready.user.close()
        ready.worker.close()
