"""The web site in a real browser (Chromium through Playwright), against a live farm.

The login page's screenshot goes to docs/screenshots/ when FOXDEN_SCREENSHOTS=1 (SQLite run);
test_browser_farm.py takes the others.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import LiveServer
from tests.farmkit import UNREADABLE_BLEND, submit, upload
from tests.web.conftest import Shots, log_in
from tests.web.webkit import SimWorker

pytestmark = pytest.mark.browser

WAIT_MS = 20_000


def test_render_watch_restart_and_isolation(
    live_server: LiveServer, browser: Browser, shots: Shots, tmp_path: Path
) -> None:
    url = live_server.url
    worker = SimWorker(url, live_server.farm.join_key, fail_once={3}, seconds=0.6)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    try:
        # Log in: a wrong key says so, the right one opens the site.
        page.goto(f"{url}/tasks")
        expect(page).to_have_url(f"{url}/login?next=%2Ftasks")
        page.get_by_label("Account").fill("alice")
        page.get_by_label("Access key").fill("fdk_not_the_key")
        shots.take(page, "login")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("alert")).to_contain_text("Wrong account name or access key")
        page.get_by_label("Access key").fill(live_server.user_key)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(f"{url}/tasks")
        expect(page.get_by_text("No tasks yet")).to_be_visible()

        # A project with the software the worker offers.
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
        page.get_by_label("Name").fill("shots")
        software = page.get_by_label("Software")
        expect(software.locator("option")).to_have_text(
            ["— choose later —", "blender 3.4", "command 1"]
        )
        software.select_option("blender 3.4")
        page.get_by_role("button", name="Create project").click()
        expect(page.get_by_role("status")).to_have_text("Project shots created.")
        expect(page.get_by_role("cell", name="blender 3.4", exact=True)).to_be_visible()
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
        expect(page.get_by_role("link", name="shots")).to_be_visible()

        # A CSRF-less POST from this logged-in browser is refused (form and JSON API alike).
        forged = context.request.post(f"{url}/projects", form={"project_name": "forged"})
        assert forged.status == 403
        forged_api = context.request.post(f"{url}/api/projects", data={"project_name": "forged"})
        assert forged_api.status == 403
        assert context.request.get(f"{url}/api/projects").json()[0]["project_name"] == "shots"

        # Submit through the JSON API; the list shows it and follows it live.
        api = live_server.client(live_server.user_key)
        upload(api, "/v/shots/shot.blend", UNREADABLE_BLEND)
        task = submit(
            api,
            project_name="shots",
            input_scene_path=r"v:\shots\shot.blend",
            frames="1-4",
            chunk_size=1,
            max_attempts=1,
            artist="alice",
        )
        task_id = task["id"]
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Tasks").click()
        row = page.locator(f'tr[data-task-id="{task_id}"]')
        expect(row.locator("[data-status]")).to_have_text("queued")
        page.evaluate("window.__sameDocument = true")
        worker.start()
        expect(row.locator("[data-status]")).to_have_text("rendering", timeout=WAIT_MS)
        expect(row.locator("[data-counts]")).to_contain_text("done", timeout=WAIT_MS)
        assert page.evaluate("window.__sameDocument") is True

        # The task page: frames update live until the task fails on frame 3.
        row.get_by_role("link", name=f"#{task_id}").click()
        expect(page).to_have_url(f"{url}/tasks/{task_id}")
        expect(page.get_by_role("heading", name="Warnings from scene analysis")).to_be_visible()
        expect(page.locator(".warnings li").first).to_contain_text("cannot read scene")
        page.evaluate("window.__sameDocument = true")
        status = page.locator("h1 [data-status]")
        frame3 = page.locator('li[data-frame="3"]')
        expect(frame3.locator("[data-status]")).to_have_text("failed", timeout=WAIT_MS)
        expect(status).to_have_text("failed", timeout=WAIT_MS)
        for n in (1, 2, 4):
            cell = page.locator(f'li[data-frame="{n}"]')
            expect(cell.locator("[data-status]")).to_have_text("done")
            expect(cell.get_by_role("img", name=f"Frame {n}")).to_be_visible(timeout=WAIT_MS)
        expect(frame3.locator("[data-attempts]")).to_have_text("1")
        expect(page.locator("[data-counts]").first).to_have_text("3/4 done, 1 failed")
        assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
        assert page.evaluate(
            "[...document.querySelectorAll('li[data-frame] img')].every(i => i.naturalWidth === 64)"
        )
        expect(page.get_by_role("button", name="Stop")).to_be_disabled()
        expect(page.get_by_role("button", name="Restart failed frames")).to_be_enabled()

        # The log of the failed frame opens in a panel.
        frame3.get_by_role("link", name="Log of frame 3").click()
        panel = page.locator("#log-panel")
        expect(panel.get_by_role("heading")).to_have_text("Log of frame 3")
        expect(panel.locator("pre")).to_contain_text("Error: out of memory rendering frame 3")
        expect(panel.locator("pre")).to_contain_text("the renderer crashed")
        expect(panel.get_by_role("heading")).to_be_focused()
        panel.get_by_role("button", name="Close log").click()
        expect(panel).to_be_hidden()

        # Restart the failed frame: it waits (the worker holds back), then renders to done.
        page.get_by_role("button", name="Restart failed frames").click()
        expect(page.get_by_role("status")).to_have_text("Restarted the failed frames.")
        expect(frame3.locator("[data-status]")).to_have_text("waiting")
        expect(status).to_have_text("rendering")
        page.evaluate("window.__sameDocument = true")
        worker.allow_retry.set()
        expect(frame3.locator("[data-status]")).to_have_text("done", timeout=WAIT_MS)
        expect(status).to_have_text("done", timeout=WAIT_MS)
        expect(frame3.get_by_role("img", name="Frame 3")).to_be_visible(timeout=WAIT_MS)
        expect(page.locator("[data-counts]").first).to_have_text("4/4 done")
        assert page.evaluate("window.__sameDocument") is True
        expect(page.get_by_role("button", name="Delete")).to_be_enabled()
        assert not worker.errors, worker.errors

        # Download every output as one zip.
        with page.expect_download() as download:
            page.get_by_role("link", name="Download outputs (zip)").click()
        saved = tmp_path / "outputs.zip"
        download.value.save_as(saved)
        names = zipfile.ZipFile(saved).namelist()
        assert names == [f"{task_id}_shot/frame_{n:04d}.png" for n in (1, 2, 3, 4)]

        # Keyboard: the skip link comes first and the controls take focus visibly.
        page.reload()
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="foxden")).to_be_focused()
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline == "solid", "focused controls must show a focus ring"

        # Workers: only administrators see them.
        assert context.request.get(f"{url}/workers").status == 403
        admin_context = browser.new_context(viewport={"width": 1280, "height": 800})
        admin = admin_context.new_page()
        log_in(admin, url, "admin", live_server.admin_key)
        admin.get_by_role("navigation", name="Main").get_by_role("link", name="Workers").click()
        worker_row = admin.get_by_role("row").filter(has_text="sim-1")
        expect(worker_row).to_contain_text("blender 3.4.1")
        expect(worker_row).to_contain_text("command 1")
        expect(worker_row).to_contain_text("s ago")
        admin_context.close()

        # Another account sees none of it.
        bob_key = live_server.new_account("bob")
        bob_context = browser.new_context(viewport={"width": 1280, "height": 800})
        bob = bob_context.new_page()
        log_in(bob, url, "bob", bob_key)
        expect(bob.get_by_text("No tasks yet")).to_be_visible()
        bob.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
        expect(bob.get_by_text("You have no projects yet")).to_be_visible()
        reply = bob.goto(f"{url}/tasks/{task_id}")
        assert reply is not None and reply.status == 404
        expect(bob.get_by_role("heading", name="Not found")).to_be_visible()
        assert bob_context.request.get(f"{url}/api/tasks/{task_id}/frames/3/log").status == 404
        assert bob_context.request.get(f"{url}/tasks/{task_id}/outputs.zip").status == 404
        bob_context.close()

        # Log out.
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("status")).to_have_text("You are logged out.")
        page.goto(f"{url}/tasks")
        expect(page).to_have_url(f"{url}/login?next=%2Ftasks")
    finally:
        worker.stop()
        context.close()
