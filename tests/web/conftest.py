"""Fixtures of the browser tests: one headless Chromium per module, screenshots on request."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the module."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


class Shots:
    """Screenshots of pages, kept only when asked for."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def take(self, page: Page, name: str, *, full_page: bool = True) -> None:
        """Save the page as docs/screenshots/<name>.png (when enabled)."""
        if self.enabled:
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    """Screenshots, when FOXDEN_SCREENSHOTS=1 and the farm runs on SQLite."""
    params = getattr(request.node, "callspec", None)
    on_sqlite = params is None or params.params.get("db_url") == "sqlite"
    return Shots(os.environ.get("FOXDEN_SCREENSHOTS") == "1" and on_sqlite)


def log_in(page: Page, url: str, account: str, key: str) -> None:
    """Log `page` in through the login form."""
    page.goto(f"{url}/login")
    page.get_by_label("Account").fill(account)
    page.get_by_label("Access key").fill(key)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(f"Logged in as {account}")).to_be_visible()
