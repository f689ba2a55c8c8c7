"""Every `Fox` call in the vendor's positional and keyword forms, with the vendor's return values.

The calls are those of the vendor's original client (its later ones included: projects by id,
plugin configs, task operations); where it printed and returned False, foxden raises.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from foxden import Fox
from foxden.errors import BadRequest, NotFound
from tests.client.conftest import SimFarm
from tests.conftest import LiveServer
from tests.farmkit import register_worker


@pytest.fixture
def fox(live_server: LiveServer) -> Fox:
    """A session on a farm whose one worker offers 'command 1' (plugin 'denoise') and blender;
    nothing renders, so submitted tasks stay queued."""
    register_worker(
        live_server.url,
        live_server.farm.join_key,
        software=[
            {"name": "command", "version": "1", "plugins": ["denoise"]},
            {"name": "blender", "version": "3.4.1"},
        ],
    )
    return Fox(live_server.url, "alice", live_server.user_key, progress=False)


def _project_id(fox: Fox, name: str) -> int:
    return fox.get_projects(name)[0]["project_id"]


def _defaults(fox: Fox, name: str) -> list[int]:
    return [int(c["is_default"]) for c in fox.get_project_plugins_config(name)]


def test_constructor_forms(live_server: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    url, key = live_server.url, live_server.user_key
    assert Fox(url, "alice", key).language == "en"
    assert Fox(url, "alice", key, "zh").language == "zh"  # language is the 4th, as the vendor's
    with caplog.at_level(logging.INFO, logger="foxden.client"):
        fox = Fox(
            render_server=url,
            account="alice",
            access_key=key,
            language="en",
            aspera_server="app5.renderbus.com",
            aspera_password="x",
            some_later_option=1,
        )
    assert fox.get_users()[0]["login_name"] == "alice"
    assert "some_later_option" in caplog.text  # accepted, and said to be ignored


def test_projects_and_plugins(fox: Fox) -> None:
    ok, first = fox.create_project("one")
    assert ok is True and isinstance(first, int)
    assert fox.create_project(
        project_name="two", project_path="/proj", render_os="linux", remark="r", sub_account="s"
    ) == (True, _project_id(fox, "two"))
    assert _project_id(fox, "one") == first
    two = fox.get_projects(project_name="two")[0]
    assert (two["project_path"], two["remark"]) == ("/proj", "r")

    ok, offered = fox.get_plugins_available()
    assert ok is True
    assert offered == [
        {"cg_soft_name": "blender 3.4", "plugin_name": ""},
        {"cg_soft_name": "command 1", "plugin_name": "denoise"},
    ]
    assert fox.get_plugins_available(cg_soft_name="command 1") == (True, [offered[1]])
    assert fox.get_plugins_available(plugin_name="denoise") == (True, [offered[1]])
    assert fox.get_plugins_available(cg_soft_name="maya 2018") == (True, [])
    with pytest.raises(BadRequest, match="unknown get_plugins_available filter"):
        fox.get_plugins_available(colour="red")

    assert fox.get_project_plugins_config("one") == []
    assert fox.get_users() == fox.get_users(1) == fox.get_users(has_child_account=0)


def test_plugin_configs_by_id(fox: Fox) -> None:
    _ok, pid = fox.create_project("api")
    assert fox.add_project_config(pid, "command 1") is True  # positional, is_default=0
    assert fox.add_project_config(
        project_id=pid, cg_soft_name="command 1", plugin_name="denoise", is_default=1
    )
    assert fox.add_project_config(str(pid), "blender 3.4", None, "0") is True  # a string id
    configs = fox.get_project_plugins_config(project_name="api")
    assert [(c["cg_soft_name"], c["plugin_name"]) for c in configs] == [
        ("command 1", ""),
        ("command 1", "denoise"),
        ("blender 3.4", ""),
    ]
    assert _defaults(fox, "api") == [0, 1, 0]
    first, second, third = (c["config_id"] for c in configs)

    assert fox.modify_project_config(pid, first, "command 1", "denoise", 1) is True
    assert _defaults(fox, "api") == [1, 0, 0]
    assert fox.modify_project_config(
        project_id=pid, config_id=str(third), cg_soft_name="blender 3.4", is_default="1"
    )
    assert _defaults(fox, "api") == [0, 0, 1]
    assert fox.get_project_plugins_config("api")[0]["plugin_name"] == "denoise"

    assert fox.delete_project_config(pid, second) is True
    assert fox.delete_project_config(project_id=pid, config_id=third) is True
    assert [c["config_id"] for c in fox.get_project_plugins_config("api")] == [first]
    fox.add_project_config(pid, "command 1")
    assert fox.delete_project_config(pid) is True  # no config_id: every config goes
    assert fox.get_project_plugins_config("api") == []

    # project names keep working where foxden took them: project_name=, or a name given first
    assert fox.add_project_config(project_name="api", cg_soft_name="command 1", is_default=1)
    assert fox.add_project_config("api", "command 1", "denoise") is True
    only = fox.get_project_plugins_config("api")[1]["config_id"]
    assert fox.modify_project_config(project_name="api", config_id=only, is_default=1) is True
    assert fox.delete_project_config("api", only) is True
    assert fox.delete_project_config(project_name="api") is True
    assert fox.get_project_plugins_config("api") == []


def test_config_errors_raise(fox: Fox) -> None:
    _ok, pid = fox.create_project("api")
    with pytest.raises(NotFound, match=f"no project with id {pid + 100}"):
        fox.add_project_config(pid + 100, "command 1")
    with pytest.raises(BadRequest, match="no cg_soft_name given"):
        fox.add_project_config(pid)
    with pytest.raises(BadRequest, match="no worker of this farm offers 'maya 2018'"):
        fox.add_project_config(pid, "maya 2018")
    with pytest.raises(BadRequest, match="is_default must be 0 or 1"):
        fox.add_project_config(pid, "command 1", is_default=2)
    with pytest.raises(BadRequest, match="not both"):
        fox.add_project_config(pid, "command 1", project_name="api")
    with pytest.raises(BadRequest, match="config_id must be a whole number"):
        fox.modify_project_config(pid, "first", is_default=1)
    with pytest.raises(NotFound):
        fox.delete_project_config(pid, 999)
    with pytest.raises(NotFound, match="no project named 'nope'"):
        fox.get_project_plugins_config("nope")


def test_upload_forms(fox: Fox, project_tree: Path) -> None:
    scene = str(project_tree / "shot" / "lgt.ma")
    images = str(project_tree / "asset" / "sourceimages")
    assert fox.upload([scene]) == {scene: True}  # positional, as old scripts call it
    assert fox.last_transfer is not None and fox.last_transfer.files_sent == 1
    assert fox.upload([scene, images], "/") == {scene: True, images: True}
    assert fox.last_transfer.files_sent == 6 and fox.last_transfer.files_skipped == 1
    assert fox.upload(local_path_list=[scene], server_path="/") == {scene: True}
    assert fox.upload(path_list=[images]) == {images: True}  # the seed page's keyword
    assert fox.last_transfer.files_sent == 0
    assert fox.upload(scene) == {scene: True}
    with pytest.raises(BadRequest, match="server_path '/elsewhere' is not supported"):
        fox.upload([scene], "/elsewhere")
    with pytest.raises(BadRequest, match="not both"):
        fox.upload([scene], path_list=[scene])
    with pytest.raises(BadRequest, match="no path_list given"):
        fox.upload()


def test_task_operations_take_ids_strings_and_lists(fox: Fox, project_tree: Path) -> None:
    _ok, pid = fox.create_project("api")
    fox.add_project_config(pid, "command 1", is_default=1)
    scene = str(project_tree / "shot" / "lgt.ma")
    fox.upload([scene])
    a, b, c, d = (
        fox.submit_task(project_name="api", input_scene_path=scene, frames="1-2") for _ in range(4)
    )

    def status(task_id: int) -> str:
        return str(fox.get_tasks(task_id)[0]["task_status"])

    assert fox.stop_tasks(a) is True  # an int
    assert fox.stop_tasks(str(b)) is True  # a string id
    assert fox.stop_tasks(f"{c},{d}") is True  # the vendor's "12,13"
    assert {status(t) for t in (a, b, c, d)} == {"Stopped"}

    assert fox.restart_tasks(a) is True  # restart_type "0": failed frames
    assert fox.restart_tasks(task_id=[b, c], restart_type="4") is True  # a list; waiting frames
    assert fox.restart_tasks(str(d), 0) is True
    assert status(a) == "Stopped"  # it had no failed frames

    assert fox.delete_tasks(a) is True
    assert fox.delete_tasks(f"{b},{c}") is True
    assert fox.delete_tasks(task_id=[str(d)]) is True
    assert fox.get_tasks() == []
    with pytest.raises(BadRequest, match="task ids must be whole numbers"):
        fox.stop_tasks("12,x")
    with pytest.raises(BadRequest, match="no task id"):
        fox.delete_tasks("")
    with pytest.raises(BadRequest, match="restart_type"):
        fox.restart_tasks(a, "9")


def test_queries_and_download_forms(sim_farm: SimFarm, project_tree: Path, tmp_path: Path) -> None:
    fox = Fox(sim_farm.url, "alice", sim_farm.key, "en", progress=False)
    _ok, pid = fox.create_project("api")
    (_ok, offered) = fox.get_plugins_available(cg_soft_name="command 1")
    fox.add_project_config(pid, offered[0]["cg_soft_name"], offered[0]["plugin_name"], 1)
    scene = str(project_tree / "shot" / "lgt.ma")
    fox.upload([scene])
    task_id = fox.submit_task(
        **{"project_name": "api", "input_scene_path": scene, "frames": "1-3[1]", "camera": "c"}
    )
    assert isinstance(task_id, int)
    fox.client.wait(task_id, poll=0.05, timeout=60)

    assert fox.get_projects("api")[0]["project_id"] == pid  # positional project_name
    assert fox.get_tasks(task_id)[0]["task_status"] == "System_Done"  # vendor order: task_id
    assert fox.get_tasks(str(task_id))[0]["task_id"] == task_id
    assert "jobs" in fox.get_tasks(task_id, None, 1)[0]
    assert len(fox.get_tasks(task_id=task_id, has_frames="1")[0]["jobs"]) == 3
    assert [t["task_id"] for t in fox.get_tasks(None, "api")] == [task_id]
    assert fox.get_tasks(task_filter={"task_status": "System_Done"})[0]["task_id"] == task_id
    assert fox.get_tasks({"camera": "c"})[0]["task_id"] == task_id  # a filter first: foxden's

    got = fox.download(task_id, str(tmp_path / "out"))  # positional
    assert got.files_fetched == 3
    again = fox.download(task_id=task_id, local_path=tmp_path / "out", skip_same=1)
    assert again.files_fetched == 0 and again.files_skipped == 3
    fox.close()
