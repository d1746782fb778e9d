"""Compose and send a campaign in headless Chromium, as a merchant would, against the live
app (gunicorn + huey_consumer, development mode) and the Mitto simulator."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter

import pytest
from playwright.sync_api import expect

from astronote.devtools.mitto_sim import MittoSimulator, SimConfig
from astronote.services.billing.pricing import DEFAULT_PRICES, country_of, per_segment
from astronote.services.messaging.rendering import DEFAULT_OPT_OUT, render
from astronote.services.messaging.segments import count_segments
from tests.e2e.live_app import LiveApp

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def mitto():
    sim = MittoSimulator(SimConfig(dlr_url=None))
    sim.start()
    yield sim
    sim.stop()


def _rules_out_of_the_way(database) -> None:
    """Quiet hours open all day and no frequency cap, so the test passes at any hour."""
    with sqlite3.connect(database) as connection:
        connection.execute(
            "UPDATE shops SET quiet_start = '00:00:00.000000', quiet_end = '00:00:00.000000',"
            " frequency_cap_hours = 0"
        )


@pytest.fixture(scope="module")
def live_app(tmp_path_factory, mitto):
    """The conftest's live app, sending through this module's simulator.

    Delete this override once LiveApp runs the simulator itself (then use its log instead
    of `mitto.sends_per_phone()`).
    """
    app = LiveApp(tmp_path_factory.mktemp("live"))
    app.env["MITTO_API_BASE"] = mitto.base_url
    app.start()
    _rules_out_of_the_way(app.workdir / "live.db")
    yield app
    app.stop()


def _subscribers(live_app) -> list[tuple[str, str | None, str | None]]:
    with sqlite3.connect(live_app.workdir / "live.db") as connection:
        return connection.execute(
            "SELECT phone, first_name, last_name FROM contacts WHERE consent_state = 'subscribed'"
        ).fetchall()


def _sign_in(page):
    page.goto("/campaigns")
    expect(page).to_have_url(re.compile(r"/dev/sign-in"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()


def test_compose_with_emoji_see_cost_send_and_watch_it_complete(page, live_app, mitto):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    people = _subscribers(live_app)
    assert people, "the demo shop has subscribed contacts"
    _sign_in(page)
    page.get_by_role("link", name="Create campaign").click()
    expect(page.get_by_role("heading", name="New campaign")).to_be_visible()
    expect(page.locator("#audience-total")).to_have_text(f"{len(people)} subscribed contacts")

    page.get_by_label("Campaign name").fill("Spring launch")
    body = page.locator("#f-body")
    body.fill("Hi ")
    page.get_by_role("button", name="{{first_name}}").click()
    body.press_sequentially(", our spring sale 🌸 starts today — don’t miss it!")
    expect(body).to_have_value(
        "Hi {{first_name}}, our spring sale 🌸 starts today — don’t miss it!"
    )

    # The UCS-2 warning names the characters that force it; the look-alikes can be fixed.
    warning = page.locator("#ucs2-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("UCS-2")
    expect(warning.locator("mark.non-gsm")).to_have_text(["🌸", "—", "’"])
    page.get_by_role("button", name="Replace with GSM-safe characters").click()
    typed = "Hi {{first_name}}, our spring sale 🌸 starts today - don't miss it!"
    expect(body).to_have_value(typed)
    expect(warning.locator("mark.non-gsm")).to_have_text(["🌸"])
    expect(warning).to_contain_text("No GSM-7 equivalent for 🌸")

    # The live counter matches the server's count of the body plus the opt-out line.
    info = count_segments(f"{typed}\n{DEFAULT_OPT_OUT}")
    counter = page.locator("#sms-counter")
    expect(counter.locator('[data-count="encoding"]')).to_have_text("UCS-2")
    expect(counter.locator('[data-count="characters"]')).to_have_text(str(info.characters))
    expect(counter.locator('[data-count="segments"]')).to_have_text(str(info.segments))
    expect(counter.locator('[data-count="per-segment"]')).to_have_text(str(info.per_segment))
    expect(counter).to_contain_text("+ opt-out text")

    # The exact cost: every recipient's segments after personalisation, opt-out included,
    # times the destination's credits per segment.
    # (The live app runs on the default price table.)
    cost = sum(
        per_segment(country_of(phone), DEFAULT_PRICES)
        * count_segments(
            render(typed, {"first_name": first, "last_name": last}, DEFAULT_OPT_OUT)
        ).segments
        for phone, first, last in people
    )
    expect(page.locator("#preview-cost")).to_have_attribute("data-credits", str(cost))
    expect(page.locator("#credit-check")).to_have_text("Enough credits")
    expect(page.locator("#preview-message")).to_contain_text("our spring sale 🌸")

    page.get_by_role("button", name="Send now…").click()
    expect(page.get_by_role("heading", name="Send “Spring launch” now?")).to_be_visible()
    expect(page.locator("#confirm-recipients")).to_have_text(f"{len(people)} subscribed contacts")
    expect(page.locator("#confirm-cost")).to_have_text(f"{cost:,} credits")
    page.get_by_role("button", name=re.compile(r"^Send to \d+ recipients")).click()

    progress = page.locator("#campaign-progress")
    expect(progress).to_have_attribute("data-status", "completed", timeout=60_000)
    expect(page.locator("#campaign-status")).to_have_text("Completed")
    expect(progress.locator("progress")).to_have_attribute("value", "100")
    expect(page.locator("#count-recipients")).to_have_text(str(len(people)))
    expect(page.locator("#count-accepted")).to_have_text(str(len(people)))
    expect(page.locator("#count-credits")).to_have_text(f"{cost:,}")
    assert Counter(mitto.sends_per_phone()) == Counter({phone: 1 for phone, _, _ in people})
    assert errors == []
