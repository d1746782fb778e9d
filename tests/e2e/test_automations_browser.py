"""Switch a flow on and edit its message in headless Chromium, as a merchant would, against
the live app (gunicorn + huey_consumer, development mode)."""

from __future__ import annotations

import re
import sqlite3

import pytest
from playwright.sync_api import expect

from astronote.services.automations.catalogue import FLOWS
from astronote.services.messaging.rendering import DEFAULT_OPT_OUT
from astronote.services.messaging.segments import count_segments

pytestmark = pytest.mark.browser
FLOW = "review_request"  # off in the demo shop (the demo switches others on)


def _stored(live_app) -> tuple[int, str, str | None] | None:
    with sqlite3.connect(live_app.workdir / "live.db") as connection:
        return connection.execute(
            "SELECT enabled, body, discount_code FROM automations WHERE flow = ?", (FLOW,)
        ).fetchone()


def test_switch_a_flow_on_and_edit_its_message(page, live_app):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/automations")
    expect(page).to_have_url(re.compile(r"/dev/sign-in"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Automations")).to_be_visible()

    # The switch is posted by htmx and swapped in place: the page is not reloaded.
    page.evaluate("window.__samePage = true")
    switch = page.get_by_role("switch", name="Review request")
    expect(switch).to_have_attribute("aria-checked", "false")
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(page.locator("#toast")).to_have_text("Review request switched on")
    assert page.evaluate("window.__samePage") is True
    assert _stored(live_app)[:1] == (1,)

    page.get_by_role("link", name="Edit Review request").click()
    expect(page.get_by_role("heading", name="Review request")).to_be_visible()
    body = page.locator("#f-body")
    expect(body).to_have_value(FLOWS[FLOW].default_body)
    body.fill("Hi {{first_name}}! How is order ")
    page.get_by_role("button", name="{{order_number}}").click()
    body.press_sequentially("? Tell us in a review ⭐")
    typed = "Hi {{first_name}}! How is order {{order_number}}? Tell us in a review ⭐"
    expect(body).to_have_value(typed)

    # The live counter follows the typing: the star forces UCS-2.
    info = count_segments(f"{typed}\n{DEFAULT_OPT_OUT}")
    counter = page.locator("#sms-counter")
    expect(counter.locator('[data-count="characters"]')).to_have_text(str(info.characters))
    expect(counter.locator('[data-count="encoding"]')).to_have_text("UCS-2")
    expect(counter.locator('[data-count="segments"]')).to_have_text(str(info.segments))
    expect(page.locator("#ucs2-warning")).to_be_visible()
    # The preview fills the sample values; the cost is per message for the shop's country.
    expect(page.locator("#preview-message")).to_contain_text("Hi Alex! How is order #1001?")
    expect(page.locator("#preview-cost")).to_have_attribute("data-credits", re.compile(r"^\d+$"))

    page.locator("#f-delay").fill("3")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#toast")).to_have_text("Review request saved")
    expect(page.locator("#f-body")).to_have_value(typed)
    expect(page.locator("#f-delay")).to_have_value("3")
    assert _stored(live_app) == (1, typed, None)

    # Enter in a field saves (it must not press "Use default copy", the first button shown).
    page.locator("#toast").evaluate("toast => { toast.hidden = true; }")
    page.get_by_label("Discount code").fill("REVIEW5")
    page.get_by_label("Discount code").press("Enter")
    expect(page.locator("#toast")).to_be_visible()
    expect(page.locator("#toast")).to_have_text("Review request saved")
    expect(page.get_by_label("Discount code")).to_have_value("REVIEW5")
    assert _stored(live_app) == (1, typed, "REVIEW5")

    page.reload()
    expect(page.locator("#f-body")).to_have_value(typed)
    page.get_by_role("link", name="← Automations").click()
    expect(page.locator("#flow-review_request")).to_contain_text("3 days later")
    expect(page.get_by_role("switch", name="Review request")).to_have_attribute(
        "aria-checked", "true"
    )
    assert errors == []
