"""Browser fixtures: the live app in development mode and headless Debian Chromium."""

import os
from pathlib import Path

import pytest

from tests.e2e.live_app import LiveApp

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def live_app(tmp_path_factory):
    app = LiveApp(tmp_path_factory.mktemp("live")).start()
    yield app
    app.stop()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("ASTRONOTE_TEST_BROWSER") == "required":
            pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
        pytest.skip(f"{CHROMIUM} not installed (CI requires it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_app):
    context = browser.new_context(base_url=live_app.url)
    page = context.new_page()
    # Prove the app needs nothing from the internet: any off-box request fails the test.
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(live_app.url) else outside.append(r.url))
    yield page
    context.close()
    assert not outside, f"page tried to reach the network: {outside}"
