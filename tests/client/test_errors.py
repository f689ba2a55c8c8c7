"""Bad input raises a clear foxden error (never a silent [] or -1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from foxden import Fox
from foxden.client.api import Client
from foxden.errors import BadRequest, Conflict, NotFound, ServerUnavailable, Unauthorized
from foxden.retry import RetryPolicy
from tests.client.conftest import SimFarm
from tests.conftest import LiveServer, free_port
from tests.farmkit import register_worker


@pytest.fixture
def fox(live_server: LiveServer) -> Fox:
    register_worker(
        live_server.url, live_server.farm.join_key, software=[{"name": "command", "version": "1"}]
    )
    f = Fox(live_server.url, "alice", live_server.user_key, progress=False)
    f.create_project("api", cg_soft_name="command 1")
    return f


def test_wrong_key(live_server: LiveServer) -> None:
    with pytest.raises(Unauthorized, match="access key"):
        Fox(render_server=live_server.url, account="alice", access_key="not-the-key")


def test_key_of_another_account(live_server: LiveServer) -> None:
    with pytest.raises(Unauthorized, match="belongs to account 'alice'"):
        Fox(render_server=live_server.url, account="bob", access_key=live_server.user_key)


def test_unreachable_farm() -> None:
    client = Client(f"127.0.0.1:{free_port()}", "k", retry=RetryPolicy(attempts=2, base_delay=0))
    with pytest.raises(ServerUnavailable, match="cannot reach the farm"):
        client.login()


def test_unknown_project(fox: Fox, project_tree: Path) -> None:
    scene = str(project_tree / "shot" / "lgt.ma")
    fox.upload([scene])
    with pytest.raises(NotFound, match=r"no project named 'nope'.*create it"):
        fox.submit_task(project_name="nope", input_scene_path=scene, frames="1-2")
    with pytest.raises(NotFound, match="no project named 'nope'"):
        fox.get_projects(project_name="nope")
    with pytest.raises(NotFound, match="no project named 'nope'"):
        fox.get_tasks(project_name="nope")


def test_project_without_config(fox: Fox, project_tree: Path) -> None:
    scene = str(project_tree / "shot" / "lgt.ma")
    fox.upload([scene])
    fox.create_project("bare")
    with pytest.raises(BadRequest, match="has no plugin config"):
        fox.submit_task(project_name="bare", input_scene_path=scene, frames="1")


def test_missing_files(fox: Fox, project_tree: Path) -> None:
    with pytest.raises(NotFound, match="no such file or folder"):
        fox.upload([str(project_tree / "nothing.ma")])
    with pytest.raises(BadRequest, match="never uploaded"):
        fox.submit_task(
            project_name="api", input_scene_path=str(project_tree / "shot" / "lgt.ma"), frames="1"
        )


@pytest.mark.parametrize("frames", ["1-x", "", "10-1[1]", "1,,2", "1-10[0]"])
def test_malformed_frames(fox: Fox, project_tree: Path, frames: str) -> None:
    scene = str(project_tree / "shot" / "lgt.ma")
    fox.upload([scene])
    with pytest.raises(BadRequest, match="frame"):
        fox.submit_task(project_name="api", input_scene_path=scene, frames=frames)


def test_bad_query_arguments(fox: Fox) -> None:
    with pytest.raises(NotFound, match="no task 99999"):
        fox.get_tasks(task_id=99999)
    with pytest.raises(BadRequest, match="unknown task_filter key"):
        fox.get_tasks(task_filter={"colour": "red"})
    with pytest.raises(BadRequest, match="unknown task status"):
        fox.get_tasks(task_filter={"task_status": "Sleeping"})
    with pytest.raises(BadRequest, match="restart_type"):
        fox.restart_tasks([1], restart_type=9)
    with pytest.raises(BadRequest, match="no task id"):
        fox.stop_tasks([])


def test_software_not_on_offer(fox: Fox) -> None:
    with pytest.raises(BadRequest, match="no worker of this farm offers 'maya 2018'"):
        fox.add_project_config("api", "maya 2018")


def test_operations_and_configs(fox: Fox, project_tree: Path) -> None:
    scene = str(project_tree / "shot" / "lgt.ma")
    fox.upload([scene])
    assert fox.get_plugins_available() == (
        True,
        [{"cg_soft_name": "command 1", "plugin_name": ""}],
    )
    assert fox.add_project_config("api", "command 1", "denoise") is True
    configs = fox.get_project_plugins_config("api")
    assert len(configs) == 2 and int(configs[0]["is_default"]) == 1
    second = configs[1]["config_id"]
    assert fox.modify_project_config("api", second, is_default=1) is True
    assert [int(c["is_default"]) for c in fox.get_project_plugins_config("api")] == [0, 1]
    assert fox.delete_project_config("api", second) is True
    configs = fox.get_project_plugins_config("api")
    assert len(configs) == 1 and int(configs[0]["is_default"]) == 1

    task_id = fox.submit_task(project_name="api", input_scene_path=scene, frames="1-3")
    with pytest.raises(Conflict, match="stop it first"):
        fox.delete_tasks([task_id])  # nothing renders it: it stays queued
    assert fox.stop_tasks(task_id) is True
    stopped = fox.get_tasks(task_id=task_id)
    assert stopped[0]["task_status"] == "Stopped" and stopped[0]["stopped_count"] == 3
    with pytest.raises(Conflict, match="only a queued or rendering task can be stopped"):
        fox.stop_tasks([task_id])
    assert fox.restart_tasks([task_id], restart_type=0) is True
    assert fox.get_tasks(task_filter={"task_status": "Stopped"})[0]["task_id"] == task_id
    assert fox.delete_tasks([task_id]) is True
    with pytest.raises(NotFound):
        fox.get_tasks(task_id=task_id)


def test_restart_finished_frames(sim_farm: SimFarm, project_tree: Path) -> None:
    fox = Fox(sim_farm.url, "alice", sim_farm.key, progress=False)
    fox.create_project("api", cg_soft_name="command 1")
    scene = str(project_tree / "shot" / "lgt.ma")
    fox.upload([scene])
    task_id = fox.submit_task(project_name="api", input_scene_path=scene, frames="1-2")
    fox.client.wait(task_id, poll=0.05, timeout=30)
    before = len(sim_farm.worker.rendered)
    fox.restart_tasks(task_id, restart_type=2)  # 2: finished frames
    fox.client.wait(task_id, poll=0.05, timeout=30)
    assert len(sim_farm.worker.rendered) == before + 2


def test_rotating_the_key_switches_the_client_and_ends_the_old_key(live_server: LiveServer) -> None:
    with Client(live_server.url, live_server.user_key) as client:
        new_key = client.rotate_key()
        assert client.me().name == "alice"  # the client now uses the new key
    with Client(live_server.url, live_server.user_key) as old, pytest.raises(Unauthorized):
        old.me()
    assert Fox(live_server.url, "alice", new_key).get_users()[0]["login_name"] == "alice"
