"""The task page of a task with many frames shows one page of them (`FRAME_PAGE` cards), and its
live update carries that page only; in Chromium the pager moves between pages and a frame's
change shows on the page shown. The failure summary is the farm's own (`failure_summary`)."""

from __future__ import annotations

import re
from contextlib import closing

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import update

from foxden.db.schema import frames
from foxden.web.task_pages import FRAME_PAGE
from tests.conftest import LiveServer
from tests.listkit import account_id, fill
from tests.web.conftest import log_in
from tests.web.webkit import login

COUNT = 250  # frames of the big task: pages of 100, 100 and 50
WAIT_MS = 20_000


def _shown(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<li class="frame[^"]*" data-frame="(\d+)"', html)]


def test_the_task_page_and_its_live_update_cost_one_page_of_frames(
    live_server: LiveServer,
) -> None:
    db = live_server.farm.db
    done, failed = fill(db, account_id(db, "alice"), 2, COUNT)  # done, then failed
    assert FRAME_PAGE == 100
    client, _token = login(live_server.url, "alice", live_server.user_key)
    with closing(client):
        first = client.get(f"/tasks/{done}").text
        assert _shown(first) == list(range(1, 101))
        assert "Frames 1\u2013100 (250 in all), page 1 of 3" in first
        second = client.get(f"/tasks/{done}", params={"frames_page": 2}).text
        assert _shown(second) == list(range(101, 201))
        assert f'data-poll-task="/tasks/{done}/live?frames_page=2"' in second
        assert _shown(client.get(f"/tasks/{done}?frames_page=9").text) == list(range(201, 251))
        assert _shown(client.get(f"/tasks/{done}?frames_page=x").text) == list(range(1, 101))

        live = client.get(f"/tasks/{done}/live", params={"frames_page": 3}).json()
        assert [f["number"] for f in live["frames"]] == list(range(201, 251))
        assert (live["frames_page"], live["frames_pages"]) == (3, 3)
        assert live["outputs"] == [] and live["outputs_total"] == 0
        assert live["task"]["frame_count"] == COUNT and "frames_detail" not in live["task"]

        page = client.get(f"/tasks/{failed}").text
        summary = f"{COUNT // 2} of {COUNT} frames failed: boom"
        assert f'<p class="failure-summary" role="status" data-summary>{summary}</p>' in page
        assert client.get(f"/tasks/{failed}/live").json()["summary"] == summary


@pytest.mark.browser
def test_the_pager_moves_through_frames_and_live_updates_follow_the_page_shown(
    live_server: LiveServer, browser: Browser
) -> None:
    db = live_server.farm.db
    *_others, task_id = fill(db, account_id(db, "alice"), 3, COUNT)  # rendering: 126-250 wait
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        log_in(page, live_server.url, "alice", live_server.user_key)
        page.goto(f"{live_server.url}/tasks/{task_id}")
        cards = page.locator("li[data-frame]")
        expect(cards).to_have_count(FRAME_PAGE)
        pager = page.get_by_role("navigation", name="Pages of frames")
        pager.get_by_role("link", name="Next frames").click()
        expect(pager).to_contain_text("Frames 101\u2013200 (250 in all), page 2 of 3")
        expect(cards).to_have_count(FRAME_PAGE)
        expect(cards.first).to_have_attribute("data-frame", "101")
        frame = page.locator('li[data-frame="150"]')
        expect(frame.locator("[data-status]")).to_have_text("waiting")
        page.evaluate("window.__sameDocument = true")

        with db.write() as conn:  # frame 150 starts rendering, half done
            conn.execute(
                update(frames)
                .where((frames.c.task_id == task_id) & (frames.c.number == 150))
                .values(status="running", progress=0.5, attempts=1)
            )
        expect(frame.locator("[data-status]")).to_have_text("running", timeout=WAIT_MS)
        expect(frame.locator("[data-percent]")).to_have_text("50%")
        assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
        expect(page.locator('li[data-frame="1"]')).to_have_count(0)  # page 1 is not shipped

        pager.get_by_role("link", name="Last").click()
        expect(cards).to_have_count(COUNT - 2 * FRAME_PAGE)
        expect(pager).to_contain_text("Frames 201\u2013250")
        pager.get_by_role("link", name="First").click()
        expect(cards.first).to_have_attribute("data-frame", "1")
    finally:
        context.close()
