"""Buy a credit pack in headless Chromium, as a merchant would: the live app (gunicorn +
huey_consumer, development mode) sends the demo shop to the billing simulator's
confirmation page; Approve brings the merchant back and the balance rises."""

from __future__ import annotations

import re
import sqlite3
import threading
import time

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from astronote.config import DEV_SECRET
from astronote.devtools.billing_sim import BillingSim
from astronote.devtools.billing_sim_app import BillingSimApp
from tests.e2e.live_app import LiveApp, _free_port

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def shopify_sim():
    """`make run`'s billing simulator, on a free loopback port; webhooks set later."""
    port = _free_port()
    sim = BillingSim(DEV_SECRET, f"http://127.0.0.1:{port}")
    server = make_server("127.0.0.1", port, BillingSimApp(sim), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield sim
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def live_app(tmp_path_factory, shopify_sim):
    app = LiveApp(tmp_path_factory.mktemp("live"))
    app.env["SHOPIFY_BILLING_SIM_URL"] = shopify_sim.base_url
    app.env.pop("SHOPIFY_API_SECRET", None)  # the sim signs with the development secret
    app.start()
    shopify_sim.webhook_url = app.url + "/webhooks/shopify"
    yield app
    app.stop()


@pytest.fixture
def page(browser, live_app, shopify_sim):
    """The conftest's page, allowed to reach the simulator (Shopify's pages) as well."""
    context = browser.new_context(base_url=live_app.url)
    page = context.new_page()
    outside: list[str] = []
    allowed = (live_app.url, shopify_sim.base_url)
    page.on("request", lambda r: None if r.url.startswith(allowed) else outside.append(r.url))
    yield page
    context.close()
    assert not outside, f"page tried to reach the network: {outside}"


def _balance(live_app) -> int:
    with sqlite3.connect(live_app.workdir / "live.db") as connection:
        row = connection.execute("SELECT available FROM credit_balances").fetchone()
    return row[0] if row else 0


def _webhook_statuses(live_app) -> list[tuple[str, str]]:
    with sqlite3.connect(live_app.workdir / "live.db") as connection:
        return connection.execute("SELECT topic, status FROM webhook_events").fetchall()


def _sign_in(page):
    page.goto("/billing/")
    expect(page).to_have_url(re.compile(r"/dev/sign-in"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Credits", exact=True)).to_be_visible()


def test_buy_a_pack_approve_on_shopify_and_see_the_balance_rise(page, live_app, shopify_sim):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    before = _balance(live_app)
    _sign_in(page)
    expect(page.locator("#balance-available")).to_have_text(f"{before:,}")
    page.locator('button[data-pack="starter"]').click()

    # Shopify's confirmation page (the simulator's), outside the app.
    expect(page).to_have_url(re.compile(r"/admin/charges/purchase/\d+/confirm$"))
    expect(page.get_by_role("heading", name="Approve 1,000 Astronote credits")).to_be_visible()
    expect(page.locator("body")).to_contain_text("10.0 USD once")
    expect(page.locator("body")).to_contain_text("Test charge")
    page.get_by_role("button", name="Approve").click()

    # Back in the app: verified through GraphQL, granted once.
    expect(page).to_have_url(re.compile(r"/billing/return\?shop=.+&charge_id=\d+$"))
    expect(page.locator("#purchase-result")).to_contain_text("1,000 credits were added")
    expect(page.locator("#balance-available")).to_have_text(f"{before + 1000:,}")
    expect(page.locator("#purchases")).to_contain_text("Paid")
    expect(page.locator("#ledger-table")).to_contain_text("Pack: 1,000 Astronote credits")

    # The webhook (delivered to the live app) and a reload change nothing.
    page.reload()
    expect(page.locator("#balance-available")).to_have_text(f"{before + 1000:,}")
    page.goto("/billing/")
    expect(page.locator("#balance-available")).to_have_text(f"{before + 1000:,}")
    assert _balance(live_app) == before + 1000
    assert [d.topic for d in shopify_sim.outbox] == ["app_purchases_one_time/update"]
    deadline = time.monotonic() + 20  # the worker applies the delivery
    while _webhook_statuses(live_app) != [("app_purchases_one_time/update", "processed")]:
        assert time.monotonic() < deadline, _webhook_statuses(live_app)
        time.sleep(0.2)
    assert _balance(live_app) == before + 1000

    # A declined pack: nothing added, and the page says so.
    page.locator('button[data-pack="starter"]').click()
    page.get_by_role("button", name="Decline").click()
    expect(page.locator("#purchase-result")).to_contain_text("You declined the charge")
    expect(page.locator("#balance-available")).to_have_text(f"{before + 1000:,}")
    assert errors == []
