"""The plan end to end against the fake Shopify: included credits once per billing period,
usage top-ups charged once per idempotency key and never past the cap, the 90% warning,
and uninstall / reinstall."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from astronote.models import BillingPurchase, BillingSettings, BillingSubscription, now_utc
from astronote.services import credits
from astronote.services.billing import topups
from astronote.tasks.billing import billing_sweep
from tests.billing.conftest import ledger_matches_balance
from tests.shopify.conftest import SHOP


@pytest.fixture
def small_cap(app):
    """A 20.00 cap and 10.00 top-ups: the second top-up reaches it, the third is refused."""
    app.config.update(BILLING_USAGE_CAP_CENTS=2000, BILLING_TOPUP_PRICE_CENTS=1000)


def _subscribe(merchant, sim) -> str:
    response = merchant.post("/billing/plan")
    assert response.status_code == 303
    number = response.headers["Location"].rstrip("/").split("/")[-2]
    return f"gid://shopify/AppSubscription/{number}"


def _plan(db) -> BillingSubscription:
    db.session.expire_all()
    return db.session.execute(select(BillingSubscription)).scalar_one()


def _available(shop) -> int:
    return credits.balance(shop.id).available


@pytest.fixture
def on_plan(merchant, sim, small_cap, db):
    gid = _subscribe(merchant, sim)
    page = merchant.come_back(sim.decide(gid, approve=True))
    assert page.status_code == 200 and "You are on" in page.get_data(as_text=True)
    return gid


def test_subscribing_creates_recurring_and_capped_usage_line_items(merchant, sim, small_cap):
    gid = _subscribe(merchant, sim)
    items = [i["plan"]["pricingDetails"] for i in sim.subscriptions[gid]["lineItems"]]
    assert items[0]["price"] == {"amount": "29.0", "currencyCode": "USD"}
    assert items[0]["interval"] == "EVERY_30_DAYS"
    assert items[1]["cappedAmount"] == {"amount": "20.0", "currencyCode": "USD"}
    assert sim.subscriptions[gid]["test"] is True


def test_included_credits_once_per_period_however_often_shopify_says_so(
    merchant, sim, on_plan, post_delivery, db
):
    assert _available(merchant.shop) == 2500
    for delivery in list(sim.outbox) * 2:
        assert post_delivery(delivery).status_code == 200
    assert merchant.come_back(sim.decide(on_plan, approve=True)).status_code == 200
    db.session.expire_all()
    assert _available(merchant.shop) == 2500
    plan = _plan(db)
    assert plan.status == "active" and plan.usage_line_item_id.startswith(
        "gid://shopify/AppSubscriptionLineItem/"
    )
    # The period ends: Shopify moves to the next one, the sweeper grants it, once.
    sim.renew(on_plan)
    plan.current_period_end, plan.updated_at = now_utc() - timedelta(minutes=1), now_utc()
    db.session.commit()
    assert billing_sweep.call_local()["renewed"] == 0  # heard from it just now: not yet
    plan = _plan(db)
    plan.updated_at = now_utc() - timedelta(hours=1)
    db.session.commit()
    assert billing_sweep.call_local()["renewed"] == 1
    assert billing_sweep.call_local()["renewed"] == 0
    sim.send("app_subscriptions/update", sim.subscriptions[on_plan])
    assert post_delivery(sim.outbox[-1]).status_code == 200
    db.session.expire_all()
    assert _available(merchant.shop) == 5000
    assert _plan(db).current_period_end > now_utc() + timedelta(days=29)
    assert ledger_matches_balance(merchant.shop.id)


def test_declined_plan_grants_nothing(merchant, sim, small_cap, db):
    gid = _subscribe(merchant, sim)
    body = merchant.come_back(sim.decide(gid, approve=False)).get_data(as_text=True)
    assert "You declined the plan" in body
    assert _plan(db).status == "declined" and _available(merchant.shop) == 0


def test_auto_topups_stop_at_the_cap_and_the_page_warns(merchant, sim, on_plan, post_delivery, db):
    assert (
        merchant.post(
            "/billing/settings", {"low_balance_threshold": "100000", "auto_topup": "on"}
        ).status_code
        == 200
    )
    assert billing_sweep.call_local()["topups"] == 1
    assert billing_sweep.call_local()["topups"] == 1  # 20.00 of 20.00: at the cap
    warning = sim.outbox[-1]
    assert warning.topic == "app_subscriptions/approaching_capped_amount"
    assert post_delivery(warning).status_code == 200
    billing_sweep.call_local()  # the third is refused by Shopify: "exceeds balance remaining"
    billing_sweep.call_local()  # and none is tried again this period
    db.session.expire_all()
    rows = db.session.execute(select(BillingPurchase).order_by(BillingPurchase.id)).scalars()
    assert [r.status for r in rows] == ["active", "active", "capped"]
    assert len(sim.usage_records) == 2
    assert _available(merchant.shop) == 2500 + 2 * 1000
    page = merchant.get("/billing/").get_data(as_text=True)
    assert 'id="near-cap"' in page and "Over cap" in page
    assert _plan(db).balance_used_cents == 2000
    assert ledger_matches_balance(merchant.shop.id)


def test_a_topup_charged_again_after_a_lost_answer_is_charged_once(merchant, sim, on_plan, db):
    row = topups.prepare(merchant.shop, by_merchant=True)
    db.session.commit()
    plan = _plan(db)
    # Our first call reached Shopify, but its answer was lost: the record exists there.
    sim.resolve(SHOP, "appUsageRecordCreate", {
        "subscriptionLineItemId": plan.usage_line_item_id, "idempotencyKey": row.idempotency_key,
        "price": {"amount": "10.00", "currencyCode": "USD"}, "description": row.name,
    })  # fmt: skip
    assert topups.charge(row.id) == "active"
    assert topups.charge(row.id) == "active"  # and once more: nothing new
    db.session.commit()
    assert len(sim.usage_records) == 1
    usage = sim.subscriptions[on_plan]["lineItems"][1]["plan"]["pricingDetails"]
    assert usage["balanceUsed"]["amount"] == "10.0"
    assert _available(merchant.shop) == 3500


def test_one_topup_in_flight_per_shop(merchant, sim, on_plan, db):
    first = topups.prepare(merchant.shop, by_merchant=True)
    db.session.commit()
    assert topups.prepare(merchant.shop) is None
    with pytest.raises(topups.TopUpUnavailable):
        topups.prepare(merchant.shop, by_merchant=True)
    # Even when the check is raced: the database refuses a second pending row.
    db.session.add(BillingSettings(shop_id=merchant.shop.id, auto_topup=True))
    db.session.commit()
    rival = BillingPurchase(
        shop_id=merchant.shop.id, kind="topup", idempotency_key="topup:rival", name="x",
        credits=1, price_cents=1, currency="USD", status="pending",
    )  # fmt: skip
    db.session.add(rival)
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        db.session.commit()
    db.session.rollback()
    assert first.id is not None


def test_merchant_topup_button_and_without_a_plan(merchant, sim, small_cap, db):
    response = merchant.post("/billing/topup")
    assert response.status_code == 409 and "subscribe first" in response.get_data(as_text=True)
    gid = _subscribe(merchant, sim)
    merchant.come_back(sim.decide(gid, approve=True))
    body = merchant.post("/billing/topup").get_data(as_text=True)
    assert "1,000 credits added" in body
    assert _available(merchant.shop) == 3500


def test_uninstall_leaves_cancelling_to_shopify_and_reinstall_keeps_the_balance(
    merchant, sim, on_plan, deliver, open_app, post_delivery, shopify, db
):
    assert deliver("app/uninstalled", {"id": 1, "myshopify_domain": SHOP}).status_code == 200
    sim.cancel_all(SHOP)  # Shopify cancels the plan itself and says so
    assert post_delivery(sim.outbox[-1]).status_code == 200
    mutations = [r.json().get("query", "") for r in shopify.requests if r.method == "POST"]
    assert not any("appSubscriptionCancel" in q for q in mutations if isinstance(q, str))
    assert open_app().status_code == 200  # reinstall
    db.session.expire_all()
    assert _available(merchant.shop) == 2500
    assert _plan(db).status == "cancelled"
    assert "Subscribe" in merchant.get("/billing/").get_data(as_text=True)


def test_a_plan_waiting_for_approval_can_be_started_again_and_goes_stale(merchant, sim, db):
    _subscribe(merchant, sim)
    page = merchant.get("/billing/").get_data(as_text=True)
    assert 'id="plan-pending"' in page and 'id="subscribe"' in page
    plan = _plan(db)
    plan.created_at = now_utc() - timedelta(days=3)  # Shopify has expired it by now
    db.session.commit()
    page = merchant.get("/billing/").get_data(as_text=True)
    assert 'id="plan-pending"' not in page and 'id="subscribe"' in page


def test_merchant_cancels_the_plan_and_keeps_the_credits(merchant, sim, on_plan, db):
    merchant.post("/billing/settings", {"low_balance_threshold": "10", "auto_topup": "on"})
    refused = merchant.post("/billing/plan/cancel")  # not confirmed
    assert refused.status_code == 422 and _plan(db).status == "active"
    page = merchant.post("/billing/plan/cancel", {"confirm": "yes"})
    assert page.status_code == 200 and "Plan cancelled" in page.get_data(as_text=True)
    assert sim.subscriptions[on_plan]["status"] == "CANCELLED"
    assert _plan(db).status == "cancelled" and _available(merchant.shop) == 2500
    assert db.session.get(BillingSettings, merchant.shop.id).auto_topup is False
    assert sim.outbox[-1].topic == "app_subscriptions/update"
    assert merchant.post("/billing/plan/cancel", {"confirm": "yes"}).status_code == 404
    assert 'id="subscribe"' in merchant.get("/billing/").get_data(as_text=True)
