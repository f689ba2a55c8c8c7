"""An administrator trusts and untrusts an account, and sets a project's rights, in a real browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, expect, sync_playwright

from tests.conftest import LiveServer
from tests.farmkit import register_worker
from tests.web.conftest import ARGS, CHROMIUM, log_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the module."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


def test_admin_trusts_on_the_accounts_page(live_server: LiveServer, browser: Browser) -> None:
    url = live_server.url
    register_worker(url, live_server.farm.join_key)
    key = live_server.new_account("mallory")
    mallory = live_server.client(key)
    mallory.post(
        "/api/projects", json={"project_name": "art", "plugins": [{"cg_soft_name": "blender 3.4"}]}
    ).raise_for_status()
    command_project = {"project_name": "cmd", "plugins": [{"cg_soft_name": "command 1"}]}
    assert mallory.post("/api/projects", json=command_project).status_code == 403

    # The user: no Accounts link, the project's rights read-only.
    user_context = browser.new_context(viewport={"width": 1280, "height": 800})
    user = user_context.new_page()
    log_in(user, url, "mallory", key)
    nav = user.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Projects")).to_be_visible()
    expect(nav.get_by_role("link", name="Accounts")).to_have_count(0)
    user.goto(f"{url}/projects/art")
    expect(user.locator("[data-allow-network]")).to_have_text("not allowed")
    expect(user.get_by_role("checkbox", name="Network")).to_have_count(0)

    # The administrator trusts mallory (confirming the dialog), then takes it back.
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    log_in(page, url, "admin", live_server.admin_key)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Accounts").click()
    row = page.get_by_role("row").filter(has_text="mallory")
    expect(row.locator("[data-trusted]")).to_have_text("no")
    prompts: list[str] = []

    def accept(dialog: Dialog) -> None:
        prompts.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    row.get_by_role("button", name="Trust mallory").click()
    expect(page.get_by_role("status")).to_contain_text("mallory is trusted")
    assert prompts and "runs any program" in prompts[0]
    row = page.get_by_role("row").filter(has_text="mallory")
    expect(row.locator("[data-trusted]")).to_have_text("yes")
    assert mallory.post("/api/projects", json=command_project).status_code == 201
    row.get_by_role("button", name="Untrust mallory").click()
    expect(page.get_by_role("status")).to_contain_text("no longer trusted")
    expect(
        page.get_by_role("row").filter(has_text="mallory").locator("[data-trusted]")
    ).to_have_text("no")
    assert mallory.get("/api/me").json()["trusted"] is False

    # The account's page sets a project's sandbox rights.
    page.get_by_role("link", name="mallory").click()
    form = page.get_by_role("form", name="Sandbox rights of art")
    form.get_by_role("checkbox", name="Network").check()
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("network allowed, scripts not allowed")
    user.reload()
    expect(user.locator("[data-allow-network]")).to_have_text("allowed")
    expect(user.locator("[data-allow-scripts]")).to_have_text("not allowed")
    context.close()
    user_context.close()
