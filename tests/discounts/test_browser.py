"""Compose a campaign with unique codes in headless Chromium against the live app
(gunicorn + huey_consumer, development mode): pick from the demo shop's discounts at the
simulator, then send with a code per recipient, and see the codes at the simulator and
each one in its own message."""

from __future__ import annotations

import re
import sqlite3
import threading
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from astronote.config import DEV_SECRET
from astronote.devtools.billing_sim import BillingSim
from astronote.devtools.billing_sim_app import DEMO_DISCOUNTS, DEMO_SHOP, BillingSimApp
from astronote.devtools.discount_sim import DiscountSim
from astronote.devtools.mitto_sim import MittoSimulator, SimConfig
from tests.e2e.conftest import browser  # noqa: F401
from tests.e2e.live_app import LiveApp, _free_port

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def shopify_sim():
    """`make run`'s simulator (billing and discounts) with the demo shop's discounts."""
    port = _free_port()
    discounts = DiscountSim()
    for title, code in DEMO_DISCOUNTS:
        discounts.seed(DEMO_SHOP, title, code)
    app = BillingSimApp(BillingSim(DEV_SECRET, f"http://127.0.0.1:{port}"), discounts)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    discounts.base_url = f"http://127.0.0.1:{port}"
    yield discounts
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def mitto():
    sim = MittoSimulator(SimConfig(dlr_url=None))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def live_app(tmp_path_factory, shopify_sim, mitto):
    app = LiveApp(tmp_path_factory.mktemp("live"))
    app.env["SHOPIFY_BILLING_SIM_URL"] = shopify_sim.base_url
    app.env["MITTO_API_BASE"] = mitto.base_url
    app.start()
    with sqlite3.connect(app.workdir / "live.db") as connection:  # any hour, no cap
        connection.execute(
            "UPDATE shops SET quiet_start = '00:00:00.000000', quiet_end = '00:00:00.000000',"
            " frequency_cap_hours = 0"
        )
    yield app
    app.stop()


@pytest.fixture
def page(browser, live_app, shopify_sim):  # noqa: F811
    context = browser.new_context(base_url=live_app.url)
    page = context.new_page()
    outside: list[str] = []
    allowed = (live_app.url, shopify_sim.base_url)  # the simulator stands in for Shopify
    page.on("request", lambda r: None if r.url.startswith(allowed) else outside.append(r.url))
    yield page
    context.close()
    assert not outside, f"page tried to reach the network: {outside}"


def _codes_in_db(live_app) -> dict[str, str]:
    with sqlite3.connect(live_app.workdir / "live.db") as connection:
        return dict(
            connection.execute(
                "SELECT m.phone, d.code FROM discount_codes d"
                " JOIN messages m ON m.id = d.message_id"
            ).fetchall()
        )


def test_pick_a_discount_then_send_unique_codes_and_see_them_at_the_simulator(
    page, live_app, shopify_sim, mitto
):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/campaigns/new")
    expect(page).to_have_url(re.compile(r"/dev/sign-in"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="New campaign")).to_be_visible()

    page.get_by_label("Campaign name").fill("Codes for all")
    page.locator("#f-body").fill("Hi {{first_name}}, 20% off with {{discount_code}}")
    page.get_by_text("Pick one of your Shopify discounts").click()  # loads on demand
    listing = page.locator("#discount-picker-list")
    expect(listing).to_contain_text("WELCOME10")
    expect(listing).to_contain_text("BFCM25")
    page.locator("#discount-q").fill("friday")
    expect(listing).to_contain_text("BFCM25")
    expect(listing).not_to_contain_text("WELCOME10")
    listing.get_by_role("button", name="Use").click()
    code_field = page.locator("#f-discount_code")
    expect(code_field).to_have_value("BFCM25")

    code_field.fill("")  # a code of their own instead
    page.get_by_label("A unique code for each recipient").check()
    page.locator("#f-unique_value").fill("20")
    page.locator("#f-unique_ends").fill((date.today() + timedelta(days=7)).isoformat())
    page.get_by_role("button", name="Send now…").click()
    expect(page.get_by_role("heading", name="Send “Codes for all” now?")).to_be_visible()
    page.get_by_role("button", name=re.compile(r"^Send to \d+ recipients")).click()

    progress = page.locator("#campaign-progress")
    expect(progress).to_have_attribute("data-status", "completed", timeout=90_000)
    expect(page.locator("#unique-codes")).to_contain_text("20% off")
    stored = _codes_in_db(live_app)
    assert stored and len(set(stored.values())) == len(stored)
    at_sim = shopify_sim.codes(DEMO_SHOP)
    assert all(code in at_sim for code in stored.values())
    texts = {a["destination"]: a["text"] for a in mitto.accepted}
    assert set(texts) == set(stored)
    assert all(f"with {code}\n" in texts[phone] for phone, code in stored.items())

    page.goto(f"{shopify_sim.base_url}/{DEMO_SHOP}/admin/discounts")  # the simulator's list
    expect(page.locator("#discounts")).to_contain_text("SMS: Codes for all")
    expect(page.locator("#discounts")).to_contain_text(next(iter(stored.values())))
    assert errors == []
