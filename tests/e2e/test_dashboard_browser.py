"""The dashboard and a campaign's report in headless Chromium against the live app:
history written as the send path leaves it, the rollup filled by the backfill command,
an attributed order added through the rollup, and the figures, charts and tables seen."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
STATUSES = ["delivered"] * 4 + ["failed", "accepted"]


def _seed(live_app) -> dict:
    """A completed campaign sent an hour ago: 6 messages, 4 delivered, 1 failed."""
    sent_at = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None)
    stamp = sent_at.isoformat(sep=" ")
    with sqlite3.connect(live_app.workdir / "live.db") as db:
        shop_id, zone = db.execute("SELECT id, timezone FROM shops").fetchone()
        campaign_id = db.execute(
            "INSERT INTO campaigns (shop_id, name, body, audience, status, recipient_count,"
            " reserved_credits, send_run, credits_settled, created_at, updated_at)"
            " VALUES (?, 'Browser sale', 'Hi', '{}', 'completed', 6, 0, 1, 1, ?, ?)",
            (shop_id, stamp, stamp),
        ).lastrowid
        for n, status in enumerate(STATUSES):
            db.execute(
                "INSERT INTO messages (shop_id, campaign_id, kind, phone, segments, credits,"
                " status, attempts, sent_at, created_at, provider_message_id)"
                " VALUES (?, ?, 'campaign', ?, 1, 2, ?, 1, ?, ?, ?)",
                (shop_id, campaign_id, f"+1415555{n:04d}", status, stamp, stamp, f"b{n}"),
            )
    live_app._run("-m", "flask", "--app", "wsgi", "astronote", "reports", "backfill")
    day = sent_at.replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).date()
    with sqlite3.connect(live_app.workdir / "live.db") as db:
        db.execute(  # what attribution adds through rollups.bump: one order of 49.90
            "UPDATE report_daily SET orders = 1, revenue_cents = 4990, unique_clicks = 2,"
            " clicks = 2 WHERE shop_id = ? AND source_kind = 'campaign' AND source_id = ?",
            (shop_id, campaign_id),
        )
        sent = db.execute(  # everything the shop sent today, straight from messages
            "SELECT count(*) FROM messages WHERE shop_id = ? AND sent_at IS NOT NULL",
            (shop_id,),
        ).fetchone()[0]
    return {"campaign_id": campaign_id, "day": day, "sent": sent}


def _tile(page, tile_id: str):
    return page.locator(f"#{tile_id} .stat-value")


def test_dashboard_and_report_show_figures_charts_and_tables(page, live_app):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    seeded = _seed(live_app)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/dev/sign-in"))
    page.get_by_role("button", name="Sign in").click()
    page.goto("/?period=7")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(_tile(page, "dash-sent")).to_have_text(f"{seeded['sent']:,}")
    expect(_tile(page, "dash-revenue")).to_have_text("49.90 USD")
    expect(page.locator("#messages-chart svg")).to_be_visible()
    expect(page.locator("#messages-chart .chart-axis-title").first).to_contain_text("Day (")
    table = page.locator("#messages-chart-table")
    expect(table).to_be_visible()
    expect(table.locator("thead")).to_contain_text("Delivered")
    latest = page.locator("#latest-campaigns tr", has_text="Browser sale")
    expect(latest).to_contain_text("66.7%")  # 4 delivered of 6 sent

    latest.get_by_role("link", name="Browser sale").click()
    expect(page.get_by_role("heading", name=re.compile("Browser sale"))).to_be_visible()
    expect(_tile(page, "report-sent")).to_have_text("6")
    expect(_tile(page, "report-delivered")).to_have_text("66.7%")
    expect(_tile(page, "report-failed")).to_have_text("1")
    expect(_tile(page, "report-clicks")).to_have_text("2")
    expect(_tile(page, "report-revenue")).to_have_text("49.90 USD")
    expect(_tile(page, "report-cost")).to_have_text("12")
    expect(page.locator("#revenue-chart svg")).to_be_visible()
    label = f"{seeded['day']:%a %b %-d, %Y}"  # the send's day in the shop's zone
    row = page.locator("#messages-chart-table tbody tr", has_text=label)
    expect(row.locator("td").first).to_have_text("6")

    page.get_by_role("link", name="← Reports").click()
    expect(page.locator("#sources-table")).to_contain_text("Browser sale")
    page.get_by_role("link", name="Revenue").click()
    expect(page.locator("#sources-table th[aria-sort]")).to_contain_text("Revenue")
    assert not errors
