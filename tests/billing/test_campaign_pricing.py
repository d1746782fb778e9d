"""Prices per destination in the campaign path: the composer's exact cost, the reservation
at start and what the ledger consumes all use the destination's credits per segment."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from astronote.models import Campaign, Message
from astronote.services import credits
from astronote.services.billing import account, pricing
from astronote.services.campaigns import composer
from astronote.services.campaigns import lifecycle as campaigns
from astronote.services.campaigns.audience import Audience
from astronote.services.contacts.csv_rows import ContactRecord
from astronote.services.contacts.upsert import write_batch
from astronote.services.sending import throttle
from astronote.tasks.campaigns import fan_out
from tests.sending.conftest import funded, mitto_sim  # noqa: F401

US = [f"+1415555{1000 + i:04d}" for i in range(5)]
GB = [f"+44770090{1000 + i:04d}" for i in range(3)]
DE = ["+4915112345678"]


@pytest.fixture
def mitto(app, mitto_sim):  # noqa: F811
    mitto_sim.reset()
    throttle.reset(app.config["MITTO_TRAFFIC_ACCOUNT_ID"])
    mitto_sim.update_config(
        {"error_5xx_rate": 0, "timeout_rate": 0, "throttle_burst": 0, "reject_rate": 0}
    )
    app.config.update(
        MITTO_API_BASE=mitto_sim.base_url,
        RATE_LIMIT_TRAFFIC_ACCOUNT_MAX=100_000,
        RATE_LIMIT_TENANT_MAX=100_000,
        RATE_LIMIT_GLOBAL_MAX=100_000,
    )
    return mitto_sim


@pytest.fixture
def audience(funded, db):  # noqa: F811
    records = [
        ContactRecord(line=i, phone=p, first_name="Ann", consent="subscribed")
        for i, p in enumerate(US + GB + DE)
    ]
    write_batch(funded.id, 0, {"first_name", "consent"}, records, evidence="test")
    db.session.commit()
    return funded


def _campaign(db, shop, body="Hi {{first_name}}, 20% off today!") -> Campaign:
    campaign = Campaign(shop_id=shop.id, name="World", body=body, audience=Audience().to_json())
    db.session.add(campaign)
    db.session.commit()
    return campaign


def test_cost_reservation_and_ledger_use_each_destinations_price(mitto, audience, db):
    expected = len(US) * 1 + len(GB) * 3 + len(DE) * 4  # one segment each
    campaign = _campaign(db, audience)
    plan = composer.confirmation(audience, campaign)
    assert (plan["recipients"], plan["cost"]) == (9, expected)
    before = credits.balance(audience.id).available
    assert campaigns.start(audience, campaign) == 9
    db.session.commit()
    assert credits.balance(audience.id).reserved == expected
    fan_out(campaign.id)
    db.session.expire_all()
    rows = db.session.execute(select(Message).filter_by(campaign_id=campaign.id)).scalars().all()
    assert {m.status for m in rows} == {"accepted"}
    assert {m.phone: m.credits for m in rows} == {
        p: pricing.credits_for(audience, p, 1) for p in US + GB + DE
    }
    assert credits.consumed_for(audience.id, campaign.id) == expected
    balance = credits.balance(audience.id)
    assert (balance.available, balance.reserved) == (before - expected, 0)
    assert credits.ledger_totals(audience.id) == balance


def test_config_prices_change_the_composers_cost(app, audience, db):
    app.config["CREDIT_PRICES"] = {"GB": 10}
    campaign = _campaign(db, audience)
    assert composer.confirmation(audience, campaign)["cost"] == 5 + 30 + 4


def test_confirm_page_warns_before_a_campaign_would_fail_or_fall_below_the_alert(
    audience, client, db
):
    from tests.conftest import bearer

    campaign = _campaign(db, audience)
    headers = bearer(audience.shop_domain)
    available = credits.balance(audience.id).available
    credits.reserve(audience.id, available - 10, "hold-most", None)  # leave 10 available
    db.session.commit()
    page = client.get(f"/campaigns/{campaign.id}/send", headers=headers)
    body = page.get_data(as_text=True)
    assert "would fail to start" in body and 'href="/billing/"' in body
    refused = client.post(
        f"/campaigns/{campaign.id}/send", data={"confirm": "yes"}, headers=headers
    )
    assert refused.status_code == 402 and "Credits page" in refused.get_data(as_text=True)
    credits.release(audience.id, available - 10, "free-all", None)
    credits.reserve(audience.id, available - 50, "hold-less", None)  # 50 left; it costs 18
    account.update_settings(audience.id, {"low_balance_threshold": "1000"})
    db.session.commit()
    body = client.get(f"/campaigns/{campaign.id}/send", headers=headers).get_data(as_text=True)
    assert "would fail to start" not in body and 'id="below-threshold"' in body
    assert "32 credits are left" in body


def test_a_stale_send_is_charged_its_price_and_a_system_reply_nothing(funded, db):  # noqa: F811
    from datetime import timedelta

    from astronote.models import now_utc
    from astronote.services.sending import batches

    credits.reserve(funded.id, 3, "hold-for-gb")
    old = now_utc() - timedelta(hours=1)
    common = dict(shop_id=funded.id, status="submitting", claimed_at=old, claim_token="t",
                  segments=1, body="x")  # fmt: skip
    db.session.add_all([
        Message(kind="campaign", phone=GB[0], credits=3, **common),
        Message(kind="kw:stop", phone=US[0], credits=1, **common),
    ])  # fmt: skip
    db.session.commit()
    before = credits.balance(funded.id)
    assert batches.reclaim_stale(timedelta(minutes=5)) == (0, 2)
    after = credits.balance(funded.id)
    assert (after.available, after.reserved) == (before.available, before.reserved - 3)
    assert credits.ledger_totals(funded.id) == after


def test_a_scheduled_campaign_the_balance_wont_cover_says_so_on_its_page(audience, client, db):
    from datetime import timedelta

    from astronote.models import now_utc
    from tests.conftest import bearer

    campaign = _campaign(db, audience)  # costs 18 (five US, three UK, one German number)
    campaign.status, campaign.scheduled_at = "scheduled", now_utc() + timedelta(days=1)
    db.session.commit()
    headers = bearer(audience.shop_domain)
    page = client.get(f"/campaigns/{campaign.id}", headers=headers).get_data(as_text=True)
    assert 'id="scheduled-shortfall"' not in page
    available = credits.balance(audience.id).available
    credits.reserve(audience.id, available - 10, "hold-most", None)  # 10 left
    db.session.commit()
    page = client.get(f"/campaigns/{campaign.id}", headers=headers).get_data(as_text=True)
    assert 'id="scheduled-shortfall"' in page
    assert "It needs 18 credits but 10 credits are available now" in page
