"""Issue #10, item 21 in a real browser: at 390 px the top bar fits, every nav link visible."""

from __future__ import annotations

import pytest

from astronote.views import NAV_ITEMS
from tests.e2e import conftest as e2e

live_app, browser = e2e.live_app, e2e.browser  # the live app and headless Chromium


@pytest.fixture
def phone(browser, live_app):
    context = browser.new_context(base_url=live_app.url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto("/dev/sign-in")
    assert page.locator("nav.topnav").count() == 0  # signed out: no app navigation
    page.click("button[type=submit]")
    page.wait_for_url(live_app.url + "/")
    yield page
    context.close()


@pytest.mark.parametrize(
    "path", ["/", "/contacts", "/submissions", "/inbox", "/templates", "/no-such-page"]
)
def test_top_bar_fits_a_390px_screen(phone, path):
    phone.goto(path)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{path} is {width}px wide"
    links = phone.locator("nav.topnav a")
    assert links.count() == len(NAV_ITEMS)  # every section, none hidden by the wrap
    for i in range(links.count()):
        box = links.nth(i).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, links.nth(i).inner_text()
    assert phone.locator(".shop-name").is_visible()


def test_browser_gets_the_favicon(phone):
    response = phone.request.get("/favicon.ico")
    assert response.status == 200 and response.headers["content-type"] == "image/x-icon"
