"""The client's fixtures (a live farm with a simulated render node, a project tree) for the CLI tests."""

from tests.client.conftest import _client_dirs, project_tree, sim_farm

__all__ = ["_client_dirs", "project_tree", "sim_farm"]
