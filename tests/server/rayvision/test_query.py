"""The SDK's query calls over signed HTTP: task records, lists with filters and pages, frames,
frame totals, thumbnails, logs; another account's tasks never shown."""

from __future__ import annotations

import time

import pytest

from tests.conftest import LiveServer
from tests.farmkit import UNREADABLE_BLEND, make_project, upload
from tests.server.rayvision.taskkit import FRAMES, INFO, LIST, Farm, farm_of


@pytest.fixture
def farm(live_server: LiveServer) -> Farm:
    return farm_of(live_server)


def test_a_task_record_has_what_the_sdk_and_the_downloader_read(farm: Farm) -> None:
    task_id = farm.submit("1-3", artist="ann")
    record = farm.info(task_id)
    profile = farm.sdk.call("/api/render/setUp/queryUserProfile")
    bid = farm.sdk.call("/api/render/transfer/getBid")["output_bid"]
    assert record["id"] == task_id and record["userId"] == profile["userId"]
    assert (record["taskStatus"], record["statusText"]) == (0, "render_task_status_0")
    assert record["isOpen"] == 0  # rayvision_sync reads no sub-task, get_small_task_id its own id
    assert [(s["id"], s["taskStatus"]) for s in record["respRenderingTaskList"]] == [(task_id, 0)]
    assert record["outputFileName"] == f"{task_id}_scene" and record["bid"] == bid
    assert record["sceneName"] == "scene.txt" and record["projectName"] == "proj"
    assert record["taskUserLevel"] == 50 and record["producer"] == "ann"
    assert record["totalFrames"] == 3 and record["waitingFramesTotal"] == 3
    assert record["doneFramesTotal"] == record["failedFramesTotal"] == 0
    rest = farm.user.get(f"/api/tasks/{task_id}").json()
    assert record["framesRange"] == rest["frames"] and record["layerParentId"] == 0
    assert abs(record["submitDate"] / 1000 - time.time()) < 60 and record["startTime"] is None


def test_a_blender_task_has_the_sdks_software_id(farm: Farm) -> None:
    make_project(farm.user, "blend", "blender 3.4")
    upload(farm.user, "/v/p/shot.blend", UNREADABLE_BLEND)
    task_id = farm.submit("1", project_name="blend", input_scene_path="/v/p/shot.blend")
    record = farm.info(task_id)
    assert record["cgId"] == 2007 and record["outputFileName"] == f"{task_id}_shot"
    assert farm.info(farm.submit("1"))["cgId"] is None  # foxden's own 'command' has none


def test_status_codes_follow_the_frames(farm: Farm) -> None:
    done, partly, failed, rendering = (farm.submit("1-2") for _ in range(4))
    farm.render(done)
    farm.render(partly, {2: "failed"})
    farm.render(failed, {1: "failed", 2: "failed"})
    farm.render(rendering, {2: "failed"})
    farm.user.post(f"/api/tasks/{rendering}/restart", json={"restart": "failed"})
    record = farm.info(done)
    assert (record["taskStatus"], record["doneFramesTotal"]) == (25, 2)
    assert record["startTime"] and record["completedDate"] >= record["startTime"]
    assert farm.info(partly)["taskStatus"] == 30 and farm.info(partly)["failedFramesTotal"] == 1
    assert farm.info(failed)["taskStatus"] == 45
    assert farm.info(rendering)["taskStatus"] == 5


def test_a_draft_is_shown_by_id_and_not_listed(farm: Farm) -> None:
    create = "/api/render/submit/createTask"
    draft = farm.sdk.call(create, {"count": 1, "taskUserLevel": 50})["taskIdList"][0]
    record = farm.info(draft)
    assert (record["id"], record["taskStatus"], record["totalFrames"]) == (draft, 0, 0)
    assert record["outputFileName"] is None  # named when it is submitted
    assert farm.sdk.call(LIST, {"pageNum": 1})["total"] == 0
    assert farm.sdk.call(FRAMES, {"taskId": draft})["items"] == []


def test_task_info_shows_only_the_callers_tasks(farm: Farm) -> None:
    mine = [farm.submit("1"), farm.submit("1")]
    items = farm.sdk.call(INFO, {"taskIds": [mine[1], 999999, mine[0], mine[1]]})["items"]
    assert [i["id"] for i in items] == [mine[1], mine[0]]  # the order asked, once each
    bob = farm.other()
    assert bob.call(INFO, {"taskIds": mine})["items"] == []
    assert bob.call(LIST, {"pageNum": 1, "pageSize": 10})["total"] == 0
    assert bob.code(FRAMES, {"taskId": mine[0], "pageNum": 1, "pageSize": 10})[0] == 404
    code, message = farm.sdk.code(INFO, {})
    assert code == 400 and "taskIds" in message


def test_the_task_list_pages_and_a_page_past_the_end_is_empty(farm: Farm) -> None:
    ids = [farm.submit("1") for _ in range(3)]
    first = farm.sdk.call(LIST, {"pageNum": 1, "pageSize": 2})
    assert (first["total"], first["pageCount"], first["pageNum"], first["size"]) == (3, 2, 1, 2)
    assert [t["id"] for t in first["items"]] == [ids[2], ids[1]]  # newest first
    second = farm.sdk.call(LIST, {"pageNum": 2, "pageSize": 2})
    assert [t["id"] for t in second["items"]] == [ids[0]]
    past = farm.sdk.call(LIST, {"pageNum": 7, "pageSize": 2})
    assert past["items"] == [] and past["total"] == 3
    assert farm.sdk.call(LIST, {"pageNum": 1, "pageSize": 10, "recycleFlag": 1})["total"] == 0
    assert farm.sdk.code(LIST, {"pageNum": 0})[0] == 400
    assert farm.sdk.code(LIST, {"pageSize": 5000})[0] == 400


def test_the_task_list_filters_by_the_sdks_status_codes(farm: Farm) -> None:
    done, partly, failed = (farm.submit("1-2") for _ in range(3))
    farm.render(done)
    farm.render(partly, {2: "failed"})
    farm.render(failed, {1: "failed", 2: "failed"})
    waiting = farm.submit("1-2")
    farm.user.post(f"/api/tasks/{waiting}/stop").raise_for_status()
    queued = farm.submit("1")

    def listed(*codes: int) -> set[int]:
        body = {"pageNum": 1, "pageSize": 100, "statusList": list(codes)}
        return {t["id"] for t in farm.sdk.call(LIST, body)["items"]}

    assert listed(25) == {done}
    assert listed(30) == {partly}
    assert listed(45) == {failed}
    assert listed(10) == {waiting}
    assert listed(0) == {queued}
    assert listed(0, 25, 45) == {queued, done, failed}
    assert listed(20, 50) == set()  # the vendor's codes foxden never reaches
    assert listed() == {done, partly, failed, waiting, queued}
    code, message = farm.sdk.code(LIST, {"statusList": [7]})
    assert code == 400 and "unknown task status code 7" in message


def test_the_task_list_searches_ids_and_text_and_submit_times(farm: Farm) -> None:
    upload(farm.user, "/v/p/forest.txt", b"trees")
    plain = farm.submit("1")
    forest = farm.submit("1", input_scene_path="/v/p/forest.txt")

    def found(**body: object) -> list[int]:
        return [t["id"] for t in farm.sdk.call(LIST, {"pageNum": 1, **body})["items"]]

    assert found(searchKeyword="fores") == [forest]
    assert found(searchKeyword=str(plain)) == [plain]
    soon = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() + 3600))
    assert found(startTime=soon) == []
    assert found(endTime=soon) == [forest, plain]
    assert farm.sdk.code(LIST, {"startTime": "yesterday"})[0] == 400


def test_frames_page_by_page_until_an_empty_page(farm: Farm) -> None:
    task_id = farm.submit("1-5")
    farm.render(task_id, {4: "failed"})
    seen: list[str] = []
    for num in range(1, 10):
        page = farm.sdk.call(FRAMES, {"taskId": task_id, "pageNum": num, "pageSize": 2})
        assert page["total"] == 5 and page["pageCount"] == 3
        if not page["items"]:
            break
        seen += [f["frameIndex"] for f in page["items"]]
    assert seen == ["1", "2", "3", "4", "5"] and num == 4
    frames = farm.frames(task_id)
    assert (
        frames["1"]["frameStatus"] == 4 and frames["1"]["frameStatusText"] == "task_frame_status_4"
    )
    assert frames["4"]["frameStatus"] == 5 and frames["4"]["errorMessage"] == "frame 4 crashed"
    assert frames["4"]["failureCategory"] == "renderer_crash" and frames["4"]["advice"]
    assert frames["1"]["failureCategory"] == "" and frames["1"]["advice"] == ""
    assert farm.info(task_id)["failureSummary"] == "1 of 5 frames failed: frame 4 crashed"
    assert frames["1"]["endTime"] >= frames["1"]["startTime"] > 0
    assert (
        frames["1"]["outputs"] == [f"{task_id}_scene/scene_0001.png"]
        and frames["1"]["taskId"] == task_id
    )
    assert len({f["id"] for f in frames.values()}) == 5
    waiting = farm.frames(farm.submit("7"))["7"]
    assert (waiting["frameStatus"], waiting["startTime"]) == (1, 0)
    search = farm.sdk.call(FRAMES, {"taskId": task_id, "searchKeyword": "2-3"})
    assert [f["frameIndex"] for f in search["items"]] == ["2", "3"] and search["total"] == 2
    assert farm.sdk.code(FRAMES, {"taskId": task_id, "searchKeyword": "x"})[0] == 400
    assert farm.sdk.code(FRAMES, {"taskId": 999999})[0] == 404


def test_frame_totals_count_the_callers_frames(farm: Farm) -> None:
    first = farm.submit("1-3")
    farm.render(first, {3: "failed"})
    farm.submit("1-4")
    stats = farm.sdk.call("/api/render/handle/queryAllFrameStats")
    assert stats["doneFramesTotal"] == 2 and stats["failedFramesTotal"] == 1
    assert stats["waitingFramesTotal"] == 4 and stats["executingFramesTotal"] == 0
    assert stats["totalFrames"] == 7
    assert farm.other().call("/api/render/handle/queryAllFrameStats")["totalFrames"] == 0


def test_thumbnails_and_progress_pictures_point_at_foxdens_route(farm: Farm) -> None:
    task_id = farm.submit("1-2")
    farm.render(task_id, {2: "failed"}, thumbnail=True)
    frames = farm.frames(task_id)
    thumb = "/api/render/handle/loadingFrameThumbnail"
    paths = farm.sdk.call(thumb, {"id": frames["1"]["id"], "frameStatus": 4})
    assert paths == [f"/api/tasks/{task_id}/frames/1/thumbnail"]
    picture = farm.user.get(paths[0])
    assert picture.status_code == 200 and picture.content == f"image of task {task_id}".encode()
    assert farm.sdk.call(thumb, {"id": frames["2"]["id"], "frameStatus": 5}) == []
    assert farm.other().code(thumb, {"id": frames["1"]["id"], "frameStatus": 4})[0] == 404
    progress = farm.sdk.call("/api/render/handle/loadTaskProcessImg", {"taskId": task_id})
    assert [g[0]["frameIndex"] for g in progress["grabInfo"]] == ["1"]
    assert progress["grabInfo"][0][0]["grabUrl"] == paths[0]
    assert progress["sceneName"] == "scene.txt"


def test_a_frames_log_comes_a_page_of_lines_at_a_time(farm: Farm) -> None:
    task_id = farm.submit("1")
    farm.render(task_id, {1: "failed"})
    frame_id = farm.frames(task_id)["1"]["id"]
    log = "/api/render/handle/showLog"
    body = {"renderingType": "render", "id": frame_id, "pageSize": 2}
    first = farm.sdk.call(log, {**body, "pageNum": 1})
    assert first["items"] == ["===== attempt 1 =====", "rendering frame 1"]
    rest = farm.sdk.call(log, {**body, "pageNum": 2})["items"]
    assert (
        rest[0] == "frame 1 failed"
        and "frame 1 crashed" in farm.sdk.call(log, {**body, "pageNum": 3})["items"]
    )
    assert farm.sdk.call(log, {**body, "pageNum": 9})["items"] == []
    assert farm.other().code(log, {**body, "pageNum": 1})[0] == 404
