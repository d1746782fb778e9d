"""Templates in headless Chromium, as a merchant would use them, against the live app
(gunicorn + huey_consumer, development mode): save one's own template with the live
counter, pick it with "Use template" in the campaign composer (the box, the counter and
the preview follow), save the campaign and see the use counted; the same in a flow."""

from __future__ import annotations

import re
import sqlite3

import pytest
from playwright.sync_api import expect

from astronote.services.messaging.rendering import DEFAULT_OPT_OUT
from astronote.services.messaging.segments import count_segments
from astronote.services.templates import library

pytestmark = pytest.mark.browser
MINE = "Weekend drop {{first_name}}: everything in {{shop_name}} is 25% off until Sunday."


def _uses(live_app, name: str) -> int:
    with sqlite3.connect(live_app.workdir / "live.db") as connection:
        return connection.execute(
            "SELECT uses FROM message_templates WHERE name = ?", (name,)
        ).fetchone()[0]


def _library_uses(live_app, key: str) -> int | None:
    with sqlite3.connect(live_app.workdir / "live.db") as connection:
        row = connection.execute(
            "SELECT uses FROM library_template_uses WHERE template_key = ?", (key,)
        ).fetchone()
    return row[0] if row else None


def _segments(body: str) -> str:
    return str(count_segments(f"{body}\n{DEFAULT_OPT_OUT}").segments)


def test_save_a_template_and_use_it_in_the_composer_and_a_flow(page, live_app):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/templates")
    expect(page).to_have_url(re.compile(r"/dev/sign-in"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Templates", exact=True)).to_be_visible()
    expect(page.locator(".template-card")).to_have_count(len(library.TEMPLATES))

    # One's own template: the live counter counts as typed; a bad placeholder is refused.
    page.get_by_role("link", name="New template").click()
    page.get_by_label("Name").fill("Weekend drop")
    page.get_by_label("Use case").select_option("sale")
    page.locator("#f-body").fill("Hi {{nickname}}")
    page.get_by_role("button", name="Save template").click()
    expect(page.locator("#e-body")).to_have_text("Unknown placeholder: {{nickname}}")
    page.locator("#f-body").fill(MINE)
    expect(page.locator('#sms-counter [data-count="segments"]')).to_have_text(_segments(MINE))
    page.get_by_role("button", name="Save template").click()
    mine = page.locator(".template-card", has_text="Weekend drop")
    expect(mine).to_contain_text("Yours")
    expect(mine).to_contain_text("Not used yet")

    # The composer: "Use template" lists what fits; a pick fills the box, counter, preview.
    page.goto("/campaigns/new")
    page.get_by_label("Campaign name").fill("Weekend")
    page.locator("summary", has_text="Use template").click()
    choices = page.locator(".template-choice")
    expect(choices.first).to_be_visible()
    expect(
        page.locator('.template-choice[data-template="lib:flow_order_confirmation"]')
    ).to_have_count(0)
    page.locator(".template-choice", has_text="Weekend drop").click()
    expect(page.locator("#f-body")).to_have_value(MINE)
    expect(page.locator('#sms-counter [data-count="segments"]')).to_have_text(_segments(MINE))
    expect(page.locator("#preview")).to_contain_text("everything in")  # refreshed for the pick
    expect(page.locator(".template-picker")).not_to_have_attribute("open", "")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("heading", name="Weekend")).to_be_visible()
    assert _uses(live_app, "Weekend drop") == 1

    # A flow: a library template that fits it, then Save; the library use is counted.
    page.goto("/automations/review_request")
    page.locator("summary", has_text="Use template").click()
    back = library.get("back_in_stock")
    page.locator('.template-choice[data-template="lib:back_in_stock"]').click()
    expect(page.locator("#f-body")).to_have_value(back.body)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#toast")).to_have_text("Review request saved")
    expect(page.locator("#f-body")).to_have_value(back.body)
    expect(page.locator("#f-template")).to_have_value("")  # the saved page: no pick pending
    assert _library_uses(live_app, "back_in_stock") == 1

    page.goto("/templates")
    expect(page.locator(".template-card", has_text="Weekend drop")).to_contain_text("Used once")
    assert not errors, errors
