"""The SDK's operations over signed HTTP: stop, start, abandon, delete, level, frame timeout,
restart and stop of frames (by row id, by status, all); ownership, the state machine's
refusals, several ids at once, and the calls foxden refuses."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from foxden.db.schema import tasks as task_table
from tests.conftest import LiveServer
from tests.server.rayvision.taskkit import INFO, LIST, Farm, farm_of

STOP = "/api/rendering/task/renderingTask/stopTask"
START = "/api/rendering/task/renderingTask/startTask"
ABANDON = "/api/render/handle/abandonTask"
DELETE = "/api/render/handle/deleteTask"
LEVEL = "/api/rendering/task/renderingTask/updateTaskUserLevel"
OVERTIME = "/api/render/handle/setTaskOverTimeStop"
RECOMMIT = "/api/render/handle/recommitTasks"
RECOMMIT_FRAMES = "/api/render/handle/recommitTaskFrames"
STOP_FRAMES = "/api/render/handle/stopTaskFrames"


@pytest.fixture
def farm(live_server: LiveServer) -> Farm:
    return farm_of(live_server)


def _statuses(farm: Farm, task_id: int) -> dict[str, int]:
    return {index: f["frameStatus"] for index, f in farm.frames(task_id).items()}


def test_stop_start_abandon_delete(farm: Farm) -> None:
    task_id = farm.submit("1-3")
    assert farm.sdk.call(STOP, {"taskIds": [task_id]}) is None
    assert farm.info(task_id)["taskStatus"] == 10
    assert set(_statuses(farm, task_id).values()) == {3}
    farm.sdk.call(START, {"taskIds": [task_id]})
    assert farm.info(task_id)["taskStatus"] == 0
    farm.sdk.call(ABANDON, {"taskIds": [task_id]})
    assert farm.info(task_id)["taskStatus"] == 35
    farm.sdk.call(DELETE, {"taskIds": [task_id, task_id]})
    assert farm.sdk.call(INFO, {"taskIds": [task_id]})["items"] == []
    assert farm.user.get(f"/api/tasks/{task_id}").status_code == 404


def test_refused_transitions_say_why(farm: Farm) -> None:
    done = farm.submit("1")
    farm.render(done)
    queued = farm.submit("1")
    code, message = farm.sdk.code(START, {"taskIds": [queued]})
    assert code == 409 and f"task {queued}" in message and "only a stopped task" in message
    code, message = farm.sdk.code(DELETE, {"taskIds": [queued]})
    assert code == 409 and "stop it first" in message
    assert farm.sdk.code(ABANDON, {"taskIds": [done]})[0] == 409
    assert farm.sdk.code(STOP, {"taskIds": [done]})[0] == 409
    assert farm.info(done)["taskStatus"] == 25 and farm.info(queued)["taskStatus"] == 0


def test_a_draft_can_be_deleted_but_not_stopped_or_restarted(farm: Farm) -> None:
    create = "/api/render/submit/createTask"
    draft = farm.sdk.call(create, {"count": 1})["taskIdList"][0]
    assert farm.sdk.code(STOP, {"taskIds": [draft]})[0] == 409
    code, message = farm.sdk.code(RECOMMIT, {"taskIds": [draft]})
    assert code == 409 and "submit it first" in message
    farm.sdk.call(DELETE, {"taskIds": [draft]})
    assert farm.sdk.call(INFO, {"taskIds": [draft]})["items"] == []


def test_several_ids_are_checked_before_any_changes(farm: Farm) -> None:
    done = farm.submit("1")
    farm.render(done)
    first, second = farm.submit("1"), farm.submit("1")
    code, message = farm.sdk.code(STOP, {"taskIds": [first, done, second]})
    assert code == 409 and f"task {done}" in message and "no task was changed" in message
    assert farm.info(first)["taskStatus"] == farm.info(second)["taskStatus"] == 0
    assert farm.sdk.code(STOP, {"taskIds": [first, 999999]})[0] == 404
    assert farm.info(first)["taskStatus"] == 0
    farm.sdk.call(STOP, {"taskIds": f"{first},{second}"})
    assert farm.info(first)["taskStatus"] == farm.info(second)["taskStatus"] == 10
    assert farm.sdk.code(STOP, {})[0] == 400


def test_another_accounts_task_is_not_found_and_untouched(farm: Farm) -> None:
    task_id = farm.submit("1-2")
    frame_id = farm.frames(task_id)["1"]["id"]
    bob = farm.other()
    for path, body in (
        (STOP, {"taskIds": [task_id]}),
        (ABANDON, {"taskIds": [task_id]}),
        (DELETE, {"taskIds": [task_id]}),
        (LEVEL, {"taskId": task_id, "taskUserLevel": 60}),
        (OVERTIME, {"taskIds": [task_id], "overTime": 60}),
        (RECOMMIT, {"taskIds": [task_id]}),
        (RECOMMIT_FRAMES, {"taskId": task_id, "selectAll": 0, "ids": [frame_id]}),
        (STOP_FRAMES, {"taskId": task_id, "selectAll": 0, "ids": [frame_id]}),
        (STOP_FRAMES, {"taskId": task_id, "selectAll": 1}),
    ):
        code, message = bob.code(path, body)
        assert code == 404 and str(task_id) in message, (path, message)
    record = farm.info(task_id)
    assert (record["taskStatus"], record["taskUserLevel"], record["overTimeStop"]) == (0, 50, None)
    assert set(_statuses(farm, task_id).values()) == {1}
    # his own task does not let him reach alice's frames by their row ids
    bob_farm = farm_of(farm.live, farm.live.new_account("bob2", trusted=True))
    bob_task = bob_farm.submit("1")
    body = {"taskId": bob_task, "selectAll": 0, "ids": [frame_id]}
    assert bob_farm.sdk.code(RECOMMIT_FRAMES, body)[0] == 404
    assert bob_farm.sdk.code(STOP_FRAMES, body)[0] == 404
    assert set(_statuses(farm, task_id).values()) == {1}


def test_the_level_is_foxdens_priority_and_orders_claims(farm: Farm) -> None:
    older, newer = farm.submit("1"), farm.submit("1")
    farm.sdk.call(LEVEL, {"taskId": newer, "taskUserLevel": 60})
    assert farm.info(newer)["taskUserLevel"] == 60
    assert farm.user.get(f"/api/tasks/{newer}").json()["priority"] == 10
    farm.render(newer)  # claimed before the older task
    farm.sdk.call(LEVEL, {"taskId": older, "taskUserLevel": 0})
    assert farm.user.get(f"/api/tasks/{older}").json()["priority"] == -50
    code, message = farm.sdk.code(LEVEL, {"taskId": older, "taskUserLevel": 101})
    assert code == 400 and "taskUserLevel" in message


def test_the_frame_timeout_is_stored_for_all_or_none(farm: Farm) -> None:
    first, second = farm.submit("1"), farm.submit("1")

    def stored() -> dict[int, int | None]:
        with farm.live.farm.db.read() as conn:
            rows = conn.execute(select(task_table.c.id, task_table.c.frame_timeout_s)).all()
        return {r.id: r.frame_timeout_s for r in rows}

    assert farm.sdk.code(OVERTIME, {"taskIds": [first, 999999], "overTime": 1800})[0] == 404
    assert stored() == {first: None, second: None}
    farm.sdk.call(OVERTIME, {"taskIds": [first, second], "overTime": 1800})
    assert stored() == {first: 1800, second: 1800}
    assert farm.info(first)["overTimeStop"] == 1800
    farm.sdk.call(OVERTIME, {"taskIds": [second], "overTime": 0})
    assert stored() == {first: 1800, second: None}
    assert farm.sdk.code(OVERTIME, {"taskIds": [first]})[0] == 400


def test_recommit_restarts_failed_frames_or_those_of_a_status(farm: Farm) -> None:
    task_id = farm.submit("1-3")
    farm.render(task_id, {2: "failed"})
    assert farm.info(task_id)["taskStatus"] == 30
    farm.sdk.call(RECOMMIT, {"taskIds": [task_id]})
    assert _statuses(farm, task_id) == {"1": 4, "2": 1, "3": 4}
    assert farm.info(task_id)["taskStatus"] == 5
    farm.sdk.call(RECOMMIT, {"taskIds": [task_id], "status": [4]})
    assert _statuses(farm, task_id) == {"1": 1, "2": 1, "3": 1}
    code, message = farm.sdk.code(RECOMMIT, {"taskIds": [task_id], "status": [9]})
    assert code == 400 and "unknown frame status code 9" in message


def test_frames_restart_by_row_id(farm: Farm) -> None:
    task_id = farm.submit("1-3")
    farm.render(task_id)
    frames = farm.frames(task_id)
    farm.sdk.call(RECOMMIT_FRAMES, {"taskId": task_id, "selectAll": 0, "ids": [frames["2"]["id"]]})
    assert _statuses(farm, task_id) == {"1": 4, "2": 1, "3": 4}
    other = farm.submit("5")
    other_frame = farm.frames(other)["5"]["id"]
    code, message = farm.sdk.code(
        RECOMMIT_FRAMES, {"taskId": task_id, "selectAll": 0, "ids": [other_frame]}
    )
    assert code == 404 and str(other_frame) in message
    assert _statuses(farm, task_id) == {"1": 4, "2": 1, "3": 4}
    farm.sdk.call(RECOMMIT_FRAMES, {"taskId": task_id, "selectAll": 1, "status": [4]})
    assert _statuses(farm, task_id) == {"1": 1, "2": 1, "3": 1}
    assert farm.sdk.code(RECOMMIT_FRAMES, {"taskId": task_id, "selectAll": 0})[0] == 400


def test_frames_stop_by_row_id_then_all(farm: Farm) -> None:
    task_id = farm.submit("1-3")
    frames = farm.frames(task_id)
    farm.sdk.call(STOP_FRAMES, {"taskId": task_id, "selectAll": 0, "ids": [frames["2"]["id"]]})
    assert _statuses(farm, task_id) == {"1": 1, "2": 3, "3": 1}
    assert farm.info(task_id)["taskStatus"] == 0  # the others still wait
    code, message = farm.sdk.code(START, {"taskIds": [task_id]})
    assert code == 409 and "only a stopped task" in message
    farm.sdk.call(STOP_FRAMES, {"taskId": task_id, "selectAll": 1, "status": [1]})
    assert farm.info(task_id)["taskStatus"] == 10
    farm.sdk.call(START, {"taskIds": [task_id]})
    assert _statuses(farm, task_id) == {"1": 1, "2": 1, "3": 1}
    farm.sdk.call(STOP_FRAMES, {"taskId": task_id, "selectAll": 1})
    assert farm.info(task_id)["taskStatus"] == 10


def test_frames_of_a_finished_task_cannot_stop(farm: Farm) -> None:
    task_id = farm.submit("1-2")
    farm.render(task_id)
    frame_id = farm.frames(task_id)["1"]["id"]
    code, message = farm.sdk.code(
        STOP_FRAMES, {"taskId": task_id, "selectAll": 0, "ids": [frame_id]}
    )
    assert code == 409 and "cannot stop a task that is done" in message
    assert _statuses(farm, task_id) == {"1": 4, "2": 4}


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("/api/render/handle/fullSpeedRendering", {"taskIds": [1]}, "no full-speed tier"),
        ("/api/render/handle/updateTaskLimit", {"taskId": 1, "taskLimit": 3}, "no per-task limit"),
        (
            "/api/render/handle/editTaskHardwareConfig",
            {"taskIds": [1], "hardwareConfigIds": ["1"], "model": "x", "gpuNum": "1", "ram": "64"},
            "no hardware configurations",
        ),
    ],
)
def test_what_foxden_lacks_is_refused_with_what_it_does_instead(
    farm: Farm, path: str, body: dict[str, object], says: str
) -> None:
    task_id = farm.submit("1")
    code, message = farm.sdk.code(path, body)
    assert code == 501 and says in message
    assert farm.sdk.call(LIST, {"pageNum": 1})["items"][0]["id"] == task_id
