"""Issue #12 end to end in the live app: a campaign with a link is sent through the Mitto
simulator, one recipient opens the short link, Shopify delivers a signed orders/create for
that contact, and the browser sees the order as the campaign's revenue on its page, the
dashboard and the reports."""

from __future__ import annotations

import re
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from playwright.sync_api import expect

from astronote.config import DEV_SECRET
from astronote.devtools.mitto_sim import MittoSimulator, SimConfig
from tests.e2e.live_app import LiveApp
from tests.fakes import shopify_webhooks as payloads
from tests.fakes.shopify_server import signed_webhook
from tests.links.conftest import UA_IPHONE

pytestmark = pytest.mark.browser
NAME = "Revenue proof"
BODY = "Our sale is on: https://alpha.example/sale"
TOTAL = "123.45"


@pytest.fixture(scope="module")
def mitto():
    sim = MittoSimulator(SimConfig(dlr_url=None))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def live_app(tmp_path_factory, mitto):
    """The conftest's live app, sending through this module's simulator, with quiet hours
    open all day and no frequency cap so the send goes out at any hour."""
    app = LiveApp(tmp_path_factory.mktemp("live"))
    app.env["MITTO_API_BASE"] = mitto.base_url
    app.start()
    with sqlite3.connect(app.workdir / "live.db") as db:
        db.execute(
            "UPDATE shops SET quiet_start = '00:00:00.000000', quiet_end = '00:00:00.000000',"
            " frequency_cap_hours = 0"
        )
    yield app
    app.stop()


def _poll(live_app, sql: str, args: tuple, timeout: float = 30.0):
    """The first row `sql` returns once the live app's web or worker process wrote it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(live_app.workdir / "live.db", timeout=10) as db:
            row = db.execute(sql, args).fetchone()
        if row is not None:
            return row
        time.sleep(0.25)
    raise AssertionError(f"nothing for {sql!r} {args}:\n{live_app.logs()}")


def _send_campaign(page) -> None:
    page.goto("/campaigns/new")
    expect(page).to_have_url(re.compile(r"/dev/sign-in"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="New campaign")).to_be_visible()
    page.get_by_label("Campaign name").fill(NAME)
    page.locator("#f-body").fill(BODY)
    page.get_by_role("button", name="Send now…").click()
    page.get_by_role("button", name=re.compile(r"^Send to \d+ recipients")).click()
    progress = page.locator("#campaign-progress")
    expect(progress).to_have_attribute("data-status", "completed", timeout=60_000)


def _click_one_link(live_app, mitto) -> tuple[int, str]:
    """Follow the first recipient's short link as their phone does: (campaign id, phone)."""
    texts = [r["text"] for r in mitto.accepted if "/l/" in r["text"]]
    assert texts, "the simulator received the campaign with its short link"
    code = re.search(r"/l/([A-Za-z0-9_-]+)", texts[0]).group(1)
    response = requests.get(
        f"{live_app.url}/l/{code}",
        headers={"User-Agent": UA_IPHONE},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("https://alpha.example/sale")
    # The click buffer flushes every LINK_FLUSH_SECONDS: wait for the written click.
    campaign_id, phone = _poll(
        live_app,
        "SELECT mc.source_id, c.phone FROM message_clicks mc JOIN contacts c"
        " ON c.id = mc.contact_id WHERE mc.source_kind = 'campaign'",
        (),
    )
    return campaign_id, phone


def _deliver_order(live_app, phone: str) -> int:
    with sqlite3.connect(live_app.workdir / "live.db") as db:
        (domain,) = db.execute("SELECT shop_domain FROM shops").fetchone()
    order_id = 7_200_000_000 + int(time.time()) % 1_000_000
    at = datetime.now(UTC) + timedelta(minutes=1)
    payload = payloads.order(order_id, phone, total=TOTAL, created_at=at, shop=domain)
    body, headers = signed_webhook(DEV_SECRET, "orders/create", domain, payload)
    response = requests.post(f"{live_app.url}/webhooks/shopify", data=body, headers=headers,
                             timeout=10)  # fmt: skip
    assert response.status_code == 200, response.text
    return order_id


def _tile(page, tile_id: str):
    return page.locator(f"#{tile_id} .stat-value")


def test_an_order_after_a_click_is_the_campaigns_revenue_everywhere(page, live_app, mitto):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _send_campaign(page)
    campaign_id, phone = _click_one_link(live_app, mitto)
    order_id = _deliver_order(live_app, phone)
    # The worker processes the stored delivery: wait for its attribution.
    source, amount = _poll(
        live_app,
        "SELECT source_id, amount_cents FROM order_attributions WHERE shopify_order_id = ?",
        (order_id,),
    )
    assert (source, amount) == (campaign_id, 12345)

    page.goto(f"/campaigns/{campaign_id}")
    expect(page.get_by_role("heading", name=re.compile(NAME))).to_be_visible()
    expect(_tile(page, "campaign-revenue")).to_have_text(f"{TOTAL} USD")

    page.goto("/?period=7")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(_tile(page, "dash-revenue")).to_have_text(f"{TOTAL} USD")

    page.goto("/reports")
    row = page.locator("#sources-table tbody tr", has_text=NAME)
    expect(row).to_contain_text(f"{TOTAL} USD")
    assert errors == []
