"""The composer counts a URL as the short link the send will put there: the live counter
(composer.js, from the box's data-short-link), the sample preview and the exact cost."""

from __future__ import annotations

import re
import sqlite3

import pytest
from playwright.sync_api import expect

from astronote.services.billing.pricing import DEFAULT_PRICES, country_of, per_segment
from astronote.services.messaging.rendering import DEFAULT_OPT_OUT, render
from astronote.services.messaging.segments import count_segments

pytestmark = pytest.mark.browser

LONG_URL = (
    "https://alpha.example/collections/winter-sale-2026/products/merino-wool-sweater"
    "?variant=40012345678901&ref=sms"
)
TYPED = "Hi {{first_name}}! Our winter sale is on, 30% off everything: " + LONG_URL + "."


def test_the_counter_preview_and_cost_count_the_short_link(page, live_app):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    with sqlite3.connect(live_app.workdir / "live.db") as connection:
        people = connection.execute(
            "SELECT phone, first_name, last_name FROM contacts WHERE consent_state = 'subscribed'"
        ).fetchall()
    page.goto("/campaigns/new")
    expect(page).to_have_url(re.compile(r"/dev/sign-in"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="New campaign")).to_be_visible()

    body = page.locator("#f-body")
    link = body.get_attribute("data-short-link")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/l/x+", link), link
    body.fill(TYPED)
    sent = TYPED.replace(LONG_URL, link)
    short, long = (count_segments(f"{t}\n{DEFAULT_OPT_OUT}") for t in (sent, TYPED))
    assert short.segments < long.segments  # the test tells the two apart
    counter = page.locator("#sms-counter")
    expect(counter.locator('[data-count="characters"]')).to_have_text(str(short.characters))
    expect(counter.locator('[data-count="segments"]')).to_have_text(str(short.segments))

    preview = page.locator("#preview-message")
    expect(preview).to_contain_text("/l/")
    expect(preview).not_to_contain_text("alpha.example")
    cost = sum(
        per_segment(country_of(phone), DEFAULT_PRICES)
        * count_segments(render(sent, {"first_name": f, "last_name": n}, DEFAULT_OPT_OUT)).segments
        for phone, f, n in people
    )
    expect(page.locator("#preview-cost")).to_have_attribute("data-credits", str(cost))

    # A URL built from a personal placeholder stays long, in the counter as in the send.
    personal = "Hi! https://alpha.example/p/{{first_name}} is yours"
    body.fill(personal)
    expected = count_segments(f"{personal}\n{DEFAULT_OPT_OUT}")
    expect(counter.locator('[data-count="characters"]')).to_have_text(str(expected.characters))
    assert errors == []
