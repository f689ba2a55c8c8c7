"""The web site for artists and admins, in Chromium against a live farm: failure reasons on the
cards and in the header, live outputs and running frames, the log beside the frames, the frame
viewer and flipbook, project task counts, and the workers page's drain / disable controls
(proved by a simulated worker's claims over HTTP).

Screenshots go to docs/screenshots/ when FOXDEN_SCREENSHOTS=1 (SQLite run).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, submit, upload
from tests.waiting import wait_until
from tests.web.conftest import Shots, log_in
from tests.web.webkit import SimWorker

pytestmark = pytest.mark.browser

WAIT_MS = 20_000
#: Blender's header and nothing Blender can read: submit accepts it with a warning
SCENE = b"BLENDER-v304" + b"\x00" * 64


def _task(live: LiveServer, frames: str) -> dict[str, Any]:
    api = live.client(live.user_key)
    make_project(api, "shots", "blender 3.4")
    upload(api, "/v/shots/shot.blend", SCENE)
    return submit(
        api,
        project_name="shots",
        input_scene_path=r"v:\shots\shot.blend",
        frames=frames,
        chunk_size=1,
        max_attempts=1,
        frame_order="in_order",  # these tests follow frames by number
    )


def test_failures_live_outputs_log_beside_and_viewer(
    live_server: LiveServer, browser: Browser, shots: Shots
) -> None:
    url = live_server.url
    worker = SimWorker(url, live_server.farm.join_key, fail_once={3}, seconds=3.0, name="sim-1")
    task_id = _task(live_server, "1-4")["id"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        log_in(page, url, "alice", live_server.user_key)
        page.goto(f"{url}/tasks/{task_id}")
        expect(page.get_by_text("No outputs yet")).to_be_visible()
        expect(page.locator("[data-summary]")).to_be_hidden()
        page.evaluate("window.__sameDocument = true")
        worker.start()

        # A running frame shows its progress and its worker; outputs appear as frames finish.
        frame1 = page.locator('li[data-frame="1"]')
        expect(frame1.locator("[data-run]")).to_be_visible(timeout=WAIT_MS)
        expect(frame1.locator("[data-percent]")).to_have_text("50%")
        expect(frame1.locator("[data-worker-name]")).to_have_text("sim-1")
        expect(frame1.locator("[data-time]")).to_contain_text("so far")
        outputs = page.locator("[data-outputs]")
        expect(outputs.get_by_role("link", name="frame_0001.png")).to_be_visible(timeout=WAIT_MS)
        expect(page.get_by_text("No outputs yet")).to_be_hidden()
        expect(frame1.locator("[data-run]")).to_be_hidden()
        expect(frame1.locator("[data-time]")).to_contain_text("(render 3.0 s)")

        # With a frame done and one running, the task page and the tasks list show an ETA.
        expect(page.locator("[data-eta]")).to_contain_text("about", timeout=WAIT_MS)
        listing = context.new_page()
        listing.goto(f"{url}/tasks")
        expect(listing.locator(f'tr[data-task-id="{task_id}"] [data-eta]')).to_contain_text("about")
        shots.take(listing, "tasks")
        listing.close()

        # Frame 3 fails: its card says why, and the header sums it up.
        status = page.locator("h1 [data-status]")
        expect(status).to_have_text("failed", timeout=WAIT_MS)
        frame3 = page.locator('li[data-frame="3"]')
        expect(frame3.locator("[data-reason]")).to_contain_text("the renderer crashed")
        summary = page.locator("[data-summary]")
        expect(summary).to_have_text("1 of 4 frames failed: the renderer crashed")
        expect(outputs.get_by_role("link")).to_have_count(3)
        assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
        wall = frame1.locator("[data-time]").inner_text()
        assert float(wall.split(" s")[0]) >= 3.0, wall  # wall time, not less than the render's
        expect(page.locator("[data-eta]")).to_have_text("—")  # nothing left to render

        # The same, rendered by the server (a reload, or no script).
        page.reload()
        expect(frame3.locator("[data-reason]")).to_contain_text("the renderer crashed")
        expect(summary).to_have_text("1 of 4 frames failed: the renderer crashed")
        expect(frame1.locator("[data-time]")).to_contain_text("(render 3.0 s)")

        # The log opens beside the frames, not at the page's end.
        frame3.get_by_role("link", name="Log of frame 3").click()
        panel = page.locator("#log-panel")
        expect(panel.locator("pre")).to_contain_text("out of memory rendering frame 3")
        grid = page.locator("[data-frames]").bounding_box()
        beside = panel.bounding_box()
        assert grid is not None and beside is not None
        assert beside["x"] >= grid["x"] + grid["width"], (grid, beside)
        assert abs(beside["y"] - grid["y"]) < 50, (grid, beside)
        expect(frame3).to_have_class("frame st-failed showing-log")
        shots.take(page, "task")
        panel.get_by_role("button", name="Close log").click()
        expect(panel).to_be_hidden()

        # A frame opens full size; next / previous skip the frame with no picture.
        opener = frame1.get_by_role("link", name="View frame 1 full size")
        opener.click()
        viewer = page.get_by_role("dialog")
        expect(viewer).to_be_visible()
        expect(viewer.get_by_role("heading")).to_have_text("Frame 1")
        image = viewer.locator("[data-viewer-img]")
        expect(image).to_have_attribute(
            "src", f"/tasks/{task_id}/outputs/{task_id}_shot/frame_0001.png"
        )
        wait_until(
            "the full-size frame to load",
            lambda: image.evaluate("img => img.complete && img.naturalWidth === 64"),
            timeout=10,
        )
        page.keyboard.press("ArrowRight")
        expect(viewer.get_by_role("heading")).to_have_text("Frame 2")
        viewer.get_by_role("button", name="Next").click()
        expect(viewer.get_by_role("heading")).to_have_text("Frame 4")
        expect(viewer.locator("[data-viewer-caption]")).to_have_text("3 of 3 frames with pictures")
        page.keyboard.press("ArrowLeft")
        expect(viewer.get_by_role("heading")).to_have_text("Frame 2")
        viewer.get_by_role("button", name="Previous").click()
        expect(viewer.get_by_role("heading")).to_have_text("Frame 1")
        shots.take(page, "viewer", full_page=False)

        # The flipbook plays the thumbnails at the scene's rate (24 when the task does not say).
        expect(viewer.get_by_label("fps")).to_have_value("24")
        viewer.get_by_role("button", name="Play").click()
        expect(viewer.get_by_role("button", name="Pause")).to_have_attribute("aria-pressed", "true")
        seen = page.evaluate(
            """() => new Promise((done) => {
                const heading = document.getElementById('viewer-h');
                const names = new Set();
                const start = performance.now();
                const timer = setInterval(() => {
                    names.add(heading.textContent);
                    if (performance.now() - start > 600) { clearInterval(timer); done([...names]); }
                }, 5);
            })"""
        )
        assert set(seen) == {"Frame 1", "Frame 2", "Frame 4"}, seen
        assert "thumbnail" in (image.get_attribute("src") or "")
        viewer.get_by_role("button", name="Pause").click()
        viewer.get_by_role("button", name="Close").click()
        expect(viewer).to_be_hidden()
        expect(opener).to_be_focused()
        assert not worker.errors, worker.errors

        # The projects page counts the project's tasks and links to them.
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
        tasks_link = page.get_by_role("link", name="1 task of shots")
        expect(tasks_link).to_be_visible()
        shots.take(page, "projects")
        tasks_link.click()
        expect(page).to_have_url(f"{url}/tasks?project_name=shots")
        row = page.locator(f'tr[data-task-id="{task_id}"]')
        expect(row.locator("[data-eta]")).to_have_text("—")

        # The favicon is our own SVG.
        icon = page.locator('link[rel="icon"]').get_attribute("href")
        assert icon == "/static/favicon.svg"
        reply = context.request.get(f"{url}{icon}")
        assert reply.ok and reply.headers["content-type"].startswith("image/svg+xml")
        assert b"<svg" in reply.body()
    finally:
        worker.stop()
        context.close()


def _claim(worker: httpx.Client) -> httpx.Response:
    return worker.post("/api/worker/claim", json={"max_frames": 1})


def _report(worker: httpx.Client, lease: dict[str, Any], status: str) -> None:
    frame = lease["frames"][0]
    result: dict[str, Any] = {"frame": frame, "status": status, "render_time": 0.2}
    if status == "failed":
        result["error"] = "the renderer crashed"
    reply = worker.post(
        f"/api/worker/leases/{lease['lease_id']}/frames", json={"results": [result]}
    )
    assert reply.status_code == 200 and reply.json()["accepted"] == [frame], reply.text


def test_workers_page_drains_and_disables_a_worker(
    live_server: LiveServer, browser: Browser, shots: Shots
) -> None:
    url = live_server.url
    worker = register_worker(url, live_server.farm.join_key, name="node-a")
    task_id = _task(live_server, "1-3")["id"]
    first = _claim(worker).json()
    assert first["frames"] == [1]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    try:
        log_in(page, url, "admin", live_server.admin_key)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Workers").click()
        row = page.get_by_role("row").filter(has_text="node-a")
        expect(row).to_contain_text(f"task {task_id}: 1 frame")

        # Drain: the worker finishes its frame, then claims nothing while frames wait.
        row.get_by_role("button", name="Drain node-a").click()
        expect(page.get_by_role("status")).to_contain_text("takes no new work")
        expect(row.locator(".badge.st-draining")).to_have_text("draining")
        expect(row.get_by_role("button", name="Drain node-a")).to_have_count(0)
        beat = worker.post(f"/api/worker/leases/{first['lease_id']}/heartbeat", json={})
        assert beat.json()["action"] == "continue"
        _report(worker, first, "done")
        assert _claim(worker).status_code == 204
        page.reload()
        expect(row.locator(".badge.st-draining")).to_have_text("drained")
        expect(row.locator("[data-frames-done]")).to_have_text("1")

        # Enable: it claims again; a failed frame counts on its row.
        row.get_by_role("button", name="Enable node-a").click()
        expect(page.get_by_role("status")).to_contain_text("takes work again")
        second = _claim(worker).json()
        assert second["frames"] == [2]
        _report(worker, second, "failed")
        third = _claim(worker).json()
        assert third["frames"] == [3]

        # Disable: its running frame goes back to the queue, its lease is gone, no new claim.
        page.reload()
        expect(row.locator("[data-frames-failed]")).to_have_text("1")
        row.get_by_role("button", name="Disable node-a").click()
        expect(page.get_by_role("status")).to_contain_text(
            "1 running frame(s) went back to the queue"
        )
        expect(row.locator(".badge.st-disabled")).to_have_text("disabled")
        expect(row.get_by_role("button", name="Disable node-a")).to_have_count(0)
        expect(row.get_by_role("button", name="Enable node-a")).to_be_visible()
        expect(row.get_by_role("button", name="Revoke node-a")).to_be_visible()
        assert (
            worker.post(f"/api/worker/leases/{third['lease_id']}/heartbeat", json={}).status_code
            == 410
        )
        assert _claim(worker).status_code == 204
        alice = live_server.client(live_server.user_key)
        counts = alice.get(f"/api/tasks/{task_id}").json()["counts"]
        assert (counts["waiting"], counts["running"]) == (1, 0)
        expect(row).to_contain_text("idle")
        shots.take(page, "workers")

        # Only administrators manage workers (the page and its forms).
        admin = live_server.client(live_server.admin_key)
        worker_id = next(w["id"] for w in admin.get("/api/workers").json() if w["name"] == "node-a")
        assert alice.post(f"/api/workers/{worker_id}/enable").status_code == 403
        bob = browser.new_context()
        log_in(bob.new_page(), url, "alice", live_server.user_key)
        assert bob.request.get(f"{url}/workers").status == 403
        bob.close()
    finally:
        context.close()
