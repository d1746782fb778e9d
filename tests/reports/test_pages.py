"""Dashboard and report pages: figures equal a direct computation from the base tables,
periods, sorting, CSV, tenancy, and bad parameters answered 400 with a field error."""

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from astronote.models import Automation, Campaign, CreditBalance, InboundMessage, Message
from astronote.services.reports import days, rollups
from tests.reports.test_rollups import _dlr, _send


def _tile(html: str, tile_id: str) -> str:
    found = re.search(rf'id="{tile_id}">\s*<span class="stat-label">[^<]*</span>\s*'
                      r'<span class="stat-value">([^<]*)</span>', html)  # fmt: skip
    assert found, tile_id
    return found.group(1)


def _base_tables(db, shop_id: int) -> dict:
    """The campaign's figures straight from messages (no rollup)."""
    went = (Message.sent_at.is_not(None)) | (Message.provider_message_id.is_not(None))
    count = func.count()
    sent = db.session.execute(select(count).where(Message.shop_id == shop_id, went)).scalar()
    delivered = db.session.execute(
        select(count).where(Message.shop_id == shop_id, Message.status == "delivered")
    ).scalar()
    failed = db.session.execute(
        select(count).where(Message.shop_id == shop_id, Message.status == "failed")
    ).scalar()
    spent = db.session.execute(
        select(func.sum(Message.credits)).where(Message.shop_id == shop_id, went)
    ).scalar()
    return {"sent": sent, "delivered": delivered, "failed": failed, "credits": spent}


@pytest.fixture
def activity(client, sim, funded, subscribers, db, read):
    """A sent campaign: 5 messages, 3 delivered and 1 failed by report, and an order."""
    subscribers(5)
    campaign = _send(funded, db, "Winter sale")
    ids = [m.provider_message_id for m in read.messages(campaign.id)]
    batch = [_dlr(client, i, "Delivered") for i in ids[:3]] + [_dlr(client, ids[3], "UNDELIVERED")]
    client.post("/webhooks/mitto/dlr", json=batch)
    rollups.bump(funded.id, days.today(funded.timezone), "campaign", campaign.id, orders=1,
                 revenue_cents=12_345, unique_clicks=2, clicks=3)  # fmt: skip
    db.session.commit()
    return campaign


def test_dashboard_figures_equal_the_base_tables(client, auth, doc_auth, activity, funded, db):
    direct = _base_tables(db, funded.id)
    assert direct == {"sent": 5, "delivered": 3, "failed": 1, "credits": direct["credits"]}
    contact_id = db.session.execute(select(Message.contact_id).limit(1)).scalar()
    db.session.add(InboundMessage(shop_id=funded.id, contact_id=contact_id, from_number="+1",
                                  text="hi", payload="{}"))  # fmt: skip
    db.session.commit()
    html = client.get("/?period=7", headers=doc_auth).get_data(as_text=True)
    assert _tile(html, "dash-sent") == "5"
    assert _tile(html, "dash-delivery") == "60.0%"  # 3 of 5
    assert _tile(html, "dash-clicks") == "2"
    assert "CTR 66.7%" in html  # 2 unique clicks / 3 delivered
    assert _tile(html, "dash-revenue") == "123.45 USD"
    balance = db.session.get(CreditBalance, funded.id).available
    assert _tile(html, "dash-credits") == f"{balance:,}"
    assert _tile(html, "dash-unread") == "1"
    assert "Winter sale" in html and 'id="messages-chart-table"' in html
    assert 'id="getting-started"' not in html  # a shop that has sent is past its first steps


def test_new_shop_keeps_the_checklist(client, doc_auth, shop):
    html = client.get("/", headers=doc_auth).get_data(as_text=True)
    assert 'id="getting-started"' in html and "Import contacts from a CSV file" in html
    assert _tile(html, "dash-sent") == "0" and _tile(html, "dash-delivery") == "—"


def test_report_pages_show_the_same_figures(client, doc_auth, activity, funded, db):
    direct = _base_tables(db, funded.id)
    listing = client.get("/reports?period=30", headers=doc_auth).get_data(as_text=True)
    row = re.search(r"Winter sale</a>.*?</tr>", listing, re.S).group(0)
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells[1:] == ["5", "60.0%", "1", "2", "66.7%", "123.45 USD", "0",
                         f"{direct['credits']:,}"]  # fmt: skip
    report = client.get(f"/reports/campaigns/{activity.id}", headers=doc_auth)
    html = report.get_data(as_text=True)
    assert report.status_code == 200
    assert _tile(html, "report-sent") == "5" and _tile(html, "report-failed") == "1"
    assert _tile(html, "report-cost") == f"{direct['credits']:,}"
    page = client.get(f"/campaigns/{activity.id}", headers=doc_auth).get_data(as_text=True)
    assert _tile(page, "campaign-sent") == "5" and _tile(page, "campaign-delivered") == "60.0%"
    today = days.today(funded.timezone)
    # the daily table behind the chart: today's row holds the sends
    assert re.search(rf"{today:%a %b %-d, %Y}</th><td class=\"num\">5</td><td class=\"num\">3",
                     html)  # fmt: skip


def test_flow_report_and_sorting(client, doc_auth, shop, db):
    flow = Automation(shop_id=shop.id, flow="welcome", body="Hi", enabled=True)
    db.session.add(flow)
    campaign = Campaign(shop_id=shop.id, name="Old", body="x", audience={})
    db.session.add(campaign)
    db.session.flush()
    day = days.today(shop.timezone)
    rollups.bump(shop.id, day, "flow", flow.id, sent=10, delivered=9, credits=10)
    rollups.bump(shop.id, day - timedelta(days=40), "campaign", campaign.id, sent=50, credits=50)
    db.session.commit()
    recent = client.get("/reports?period=30", headers=doc_auth).get_data(as_text=True)
    assert "Welcome" in recent and ">Old<" not in recent  # the campaign is outside 30 days
    by_sent = client.get("/reports?period=90&sort=sent&dir=desc", headers=doc_auth).get_data(
        as_text=True
    )
    assert by_sent.index(">Old<") < by_sent.index(">Welcome<")
    ascending = client.get("/reports?period=90&sort=sent&dir=asc", headers=doc_auth).get_data(
        as_text=True
    )
    assert ascending.index(">Welcome<") < ascending.index(">Old<")
    flows_only = client.get("/reports?period=90&kind=flow", headers=doc_auth).get_data(as_text=True)
    assert ">Welcome<" in flows_only and ">Old<" not in flows_only
    old = client.get(f"/reports/campaigns/{campaign.id}", headers=doc_auth).get_data(as_text=True)
    shown = f"{day - timedelta(days=40):%b %-d, %Y}"
    assert f"All time · {shown} to {shown}" in old  # all time: the days it was active
    assert _tile(old, "report-sent") == "50" and "messages-chart-table" in old
    report = client.get(f"/reports/flows/{flow.id}", headers=doc_auth).get_data(as_text=True)
    assert _tile(report, "report-sent") == "10" and _tile(report, "report-delivered") == "90.0%"
    custom = (
        f"/reports?period=custom&start={day - timedelta(days=41)}&end={day - timedelta(days=39)}"
    )
    html = client.get(custom, headers=doc_auth).get_data(as_text=True)
    assert ">Old<" in html and ">Welcome<" not in html and _tile(html, "total-sent") == "50"


def test_csv_export_streams_neutralised_rows(client, doc_auth, shop, db):
    campaign = Campaign(shop_id=shop.id, name='=HYPERLINK("x")', body="x", audience={})
    db.session.add(campaign)
    db.session.flush()
    rollups.bump(shop.id, days.today(shop.timezone), "campaign", campaign.id, sent=4, delivered=2,
                 revenue_cents=1050, refunds_cents=50, credits=8)  # fmt: skip
    db.session.commit()
    response = client.get("/reports/export.csv?period=7&sort=revenue", headers=doc_auth)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows == [
        {"type": "campaign", "id": str(campaign.id), "name": "'=HYPERLINK(\"x\")",
         "last_activity": days.today(shop.timezone).isoformat(), "sent": "4", "delivered": "2",
         "delivered_pct": "50.0", "failed": "0", "clicks": "0", "unique_clicks": "0",
         "ctr_pct": "0.0", "orders": "0", "revenue_usd": "10.00", "refunds_usd": "0.50",
         "opt_outs": "0", "cost_credits": "8"}
    ]  # fmt: skip


def test_each_shop_sees_only_its_own(client, doc_auth, shop, make_shop, db):
    other = make_shop("other.myshopify.com")
    campaign = Campaign(shop_id=other.id, name="Theirs", body="x", audience={})
    db.session.add(campaign)
    db.session.flush()
    rollups.bump(other.id, days.today(other.timezone), "campaign", campaign.id, sent=99)
    db.session.commit()
    home = client.get("/", headers=doc_auth).get_data(as_text=True)
    assert _tile(home, "dash-sent") == "0"
    listing = client.get("/reports?period=7", headers=doc_auth).get_data(as_text=True)
    assert "Theirs" not in listing
    assert client.get(f"/reports/campaigns/{campaign.id}", headers=doc_auth).status_code == 404
    body = client.get("/reports/export.csv?period=7", headers=doc_auth).get_data(as_text=True)
    assert "Theirs" not in body and len(body.splitlines()) == 1


@pytest.mark.parametrize(
    "query, field",
    [
        ("period=12", "period"),
        ("period=custom", "start"),
        ("period=custom&start=2026-13-01&end=2026-12-01", "start"),
        ("period=custom&start=2026-12-05&end=2026-12-01", "end"),
        ("period=custom&start=1900-01-01&end=2026-12-01", "start"),
        ("period=custom&start=2000-01-01&end=2026-12-01", "end"),
        ("sort=name;drop", "sort"),
        ("dir=sideways", "dir"),
        ("kind=newsletter", "kind"),
    ],
)
def test_bad_parameters_are_field_errors(client, doc_auth, shop, query, field):
    for path in ("/reports", "/reports/export.csv"):
        response = client.get(f"{path}?{query}", headers=doc_auth)
        assert response.status_code == 400, path
        assert f'data-field="{field}"' in response.get_data(as_text=True)
    if field in ("period", "start", "end"):
        home = client.get(f"/?{query}", headers=doc_auth)
        assert home.status_code == 400 and 'id="period-errors"' in home.get_data(as_text=True)


def test_unknown_report_ids_are_not_found(client, doc_auth, shop):
    assert client.get("/reports/campaigns/999999", headers=doc_auth).status_code == 404
    assert client.get("/reports/flows/999999", headers=doc_auth).status_code == 404
    assert client.get("/reports/campaigns/abc", headers=doc_auth).status_code == 404
    bad = client.get("/reports/flows/1?period=custom&start=x", headers=doc_auth)
    assert bad.status_code in (400, 404)
