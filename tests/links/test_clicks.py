"""Clicks: counted once per message as unique, every time as total; bots and HEAD never."""

from __future__ import annotations

import pytest

from astronote.services import links
from astronote.services.links import clicks, codec, stats
from tests.links.conftest import UA_IPHONE

BROWSER = {"User-Agent": UA_IPHONE}
PREVIEWERS = [
    # iMessage's LinkPresentation fetcher (Messages, Mail, Notes)
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) "
    "Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
    "WhatsApp/2.23.20.0 A",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Slackbot 1.0 (+https://api.slack.com/robots)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Facebot",
    "Twitterbot/1.0",
    "TelegramBot (like TwitterBot)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.7.1",
    "",
]
PEOPLE = [
    UA_IPHONE,
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    # A phone whose model name contains "bot": still a person.
    "Mozilla/5.0 (Linux; Android 10; CUBOT P40) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36",
]


@pytest.fixture
def sent(db, shop, campaign_factory, messages_for):
    """A campaign with two links sent to three recipients: their codes, by message."""
    body = "New: https://alpha.example/new and https://alpha.example/sale"
    campaign = campaign_factory(shop, name="Launch", body=body)
    messages = messages_for(shop, campaign.id, n=3)
    prepared = links.prepare(shop.id, links.Source(links.CAMPAIGN, campaign.id, "Launch"), body)
    db.session.commit()
    codes = {m.id: [codec.encode(prepared.id, m.id, i) for i in (0, 1)] for m in messages}
    return campaign, messages, codes


def _open(client, code, agent=UA_IPHONE, method="GET", **headers):
    response = client.open(f"/l/{code}", method=method, headers={"User-Agent": agent, **headers})
    assert response.status_code == 302
    return response


def test_a_click_counts_once_as_unique_and_every_time_as_total(app, client, shop, sent):
    campaign, (first, second, third), codes = sent
    for code in (codes[first.id][0], codes[first.id][0], codes[first.id][1], codes[second.id][1]):
        _open(client, code)
    assert clicks.buffer().flush() == 4
    assert stats.for_message(shop.id, first.id) == 3
    assert stats.for_message(shop.id, second.id) == 1
    assert stats.for_message(shop.id, third.id) == 0
    assert stats.totals(shop.id, links.CAMPAIGN, campaign.id) == (4, 2)
    _open(client, codes[first.id][1])  # a later batch: total grows, unique does not
    _open(client, codes[third.id][0])
    assert clicks.buffer().flush() == 2
    assert stats.totals(shop.id, links.CAMPAIGN, campaign.id) == (6, 3)


@pytest.mark.parametrize("agent", PREVIEWERS)
def test_preview_bots_are_redirected_but_not_counted(app, client, shop, sent, agent):
    campaign, (first, *_), codes = sent
    response = _open(client, codes[first.id][0], agent=agent)
    assert response.headers["Location"].startswith("https://alpha.example/new?utm_source=sms")
    assert clicks.buffer().flush() == 0
    assert stats.totals(shop.id, links.CAMPAIGN, campaign.id) == (0, 0)


@pytest.mark.parametrize("agent", PEOPLE)
def test_people_are_counted(app, client, shop, sent, agent):
    campaign, (first, *_), codes = sent
    _open(client, codes[first.id][0], agent=agent)
    assert clicks.buffer().flush() == 1
    assert stats.totals(shop.id, links.CAMPAIGN, campaign.id) == (1, 1)


def test_head_and_prefetch_are_not_counted(app, client, shop, sent):
    campaign, (first, *_), codes = sent
    assert _open(client, codes[first.id][0], method="HEAD").headers["Location"]
    _open(client, codes[first.id][0], **{"Sec-Purpose": "prefetch;prerender"})
    _open(client, codes[first.id][0], Purpose="prefetch")
    assert clicks.buffer().flush() == 0
    _open(client, codes[first.id][0])
    assert clicks.buffer().flush() == 1
    assert stats.totals(shop.id, links.CAMPAIGN, campaign.id) == (1, 1)


def _flush_every(app, seconds: float) -> None:
    app.config["LINK_FLUSH_SECONDS"] = seconds
    app.extensions.pop("astronote_link_clicks", None)  # the next click makes a new writer


def test_the_writer_thread_flushes_on_its_own(app, client, shop, sent):
    _flush_every(app, 0.05)
    campaign, (first, *_), codes = sent
    _open(client, codes[first.id][0])
    writer = clicks.buffer()
    for _ in range(200):
        if stats.totals(shop.id, links.CAMPAIGN, campaign.id) == (1, 1):
            break
        writer._wake.wait(0.05)
        from astronote.extensions import db

        db.session.rollback()  # a fresh snapshot for the next read
    assert stats.totals(shop.id, links.CAMPAIGN, campaign.id) == (1, 1)


def test_inline_mode_writes_within_the_request(app, client, shop, sent):
    _flush_every(app, 0)
    campaign, (first, *_), codes = sent
    _open(client, codes[first.id][0])
    assert stats.totals(shop.id, links.CAMPAIGN, campaign.id) == (1, 1)


def test_test_sends_and_deleted_messages_are_not_counted(app, client, db, shop, sent, messages_for):
    campaign, (first, *_), codes = sent
    (test_send,) = messages_for(shop, None, kind="test")
    set_id = codec.decode(codes[first.id][0]).set_id
    _open(client, codec.encode(set_id, test_send.id, 0))
    _open(client, codec.encode(set_id, 10**9, 0))  # no such message
    assert clicks.buffer().flush() == 0
    assert stats.totals(shop.id, links.CAMPAIGN, campaign.id) == (0, 0)


def test_a_failed_write_keeps_the_clicks_for_the_next_try(app, client, shop, sent, monkeypatch):
    campaign, (first, *_), codes = sent
    _open(client, codes[first.id][0])
    from astronote.services.links import rollups

    real = rollups.write
    monkeypatch.setattr(rollups, "write", lambda batch: 1 / 0)
    assert clicks.buffer().flush() == 0
    monkeypatch.setattr(rollups, "write", real)
    assert clicks.buffer().flush() == 1
    assert stats.totals(shop.id, links.CAMPAIGN, campaign.id) == (1, 1)


def test_ctr_for_a_campaign(app, client, db, shop, sent, messages_for):
    campaign, (first, second, third), codes = sent
    assert stats.for_campaign(campaign).ctr == 0
    _open(client, codes[first.id][0])
    clicks.buffer().flush()
    result = stats.for_campaign(campaign)
    assert (result.clicks, result.unique, result.base, result.base_kind) == (1, 1, 3, "delivered")
    assert result.ctr == pytest.approx(1 / 3)
    counts = {"delivered": 0, "accepted": 4, "unknown": 1}
    from_page = stats.for_campaign(campaign, counts)
    assert (from_page.base, from_page.base_kind, from_page.ctr) == (5, "sent", 0.2)
    flow = stats.for_flow(shop.id, 12345, delivered=0, sent=0)
    assert (flow.clicks, flow.ctr) == (0, None)


def test_a_batch_that_keeps_failing_is_dropped_not_retried_forever(
    app, client, shop, sent, monkeypatch
):
    campaign, (first, second, _), codes = sent
    _open(client, codes[first.id][0])
    from astronote.services.links import rollups

    real = rollups.write
    monkeypatch.setattr(rollups, "write", lambda batch: 1 / 0)
    for _ in range(clicks.MAX_TRIES):
        assert clicks.buffer().flush() == 0
    monkeypatch.setattr(rollups, "write", real)
    _open(client, codes[second.id][0])
    assert clicks.buffer().flush() == 1  # only the new click: the failing batch is gone
    assert stats.totals(shop.id, links.CAMPAIGN, campaign.id) == (1, 1)


def test_clicks_reach_the_reports_daily_rollup_on_the_shops_day(app, client, db, shop, sent):
    """Clicks on the click's day in the shop's zone, a unique click on the first click's."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from sqlalchemy import select

    from astronote.models import ReportDaily

    campaign, (first, second, _), codes = sent
    zone = ZoneInfo(shop.timezone)
    before = datetime.now(zone).date()
    for code in (codes[first.id][0], codes[first.id][1], codes[second.id][0]):
        _open(client, code)
    clicks.buffer().flush()
    _open(client, codes[first.id][0])  # a later click: a click, not a unique one
    clicks.buffer().flush()
    days = {before, datetime.now(zone).date()}  # a run across the shop's midnight: either
    rows = db.session.execute(
        select(ReportDaily.day, ReportDaily.clicks, ReportDaily.unique_clicks).where(
            ReportDaily.shop_id == shop.id,
            ReportDaily.source_kind == "campaign",
            ReportDaily.source_id == campaign.id,
        )
    ).all()
    assert {r.day for r in rows} <= days
    assert (sum(r.clicks for r in rows), sum(r.unique_clicks for r in rows)) == (4, 2)
