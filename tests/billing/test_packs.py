"""Credit packs end to end against the fake Shopify: buy, approve or decline on Shopify's
confirmation page, come back, webhooks in any order and redelivered: granted exactly once."""

from __future__ import annotations

import itertools
import re

import pytest
from sqlalchemy import select

from astronote.models import BillingPurchase, CreditLedgerEntry
from astronote.services import credits
from tests.billing.conftest import ledger_matches_balance
from tests.conftest import bearer
from tests.fakes.shopify_server import signed_webhook


def _purchase(db, gid):
    return db.session.execute(select(BillingPurchase).filter_by(shopify_id=gid)).scalar_one()


def _grants(db, shop_id):
    query = select(CreditLedgerEntry).filter_by(shop_id=shop_id, kind="grant")
    return db.session.execute(query).scalars().all()


def test_buying_a_pack_creates_a_test_charge_at_the_packs_price(merchant, sim, db):
    gid = merchant.buy("growth")
    charge = sim.purchases[gid]
    assert (charge["name"], charge["price"], charge["test"]) == (
        "5,000 Astronote credits",
        {"amount": "45.0", "currencyCode": "USD"},
        True,
    )
    assert charge["returnUrl"].startswith("http://localhost/billing/return?shop=")
    row = _purchase(db, gid)
    assert (row.status, row.credits, row.price_cents, row.idempotency_key) == (
        "pending",
        5000,
        4500,
        gid,
    )
    assert credits.balance(merchant.shop.id).available == 0  # nothing before approval


def test_approved_pack_is_granted_once_on_return_and_every_webhook(
    merchant, sim, post_delivery, db
):
    gid = merchant.buy()
    page = merchant.come_back(sim.decide(gid, approve=True))
    assert page.status_code == 200
    assert "Payment confirmed" in page.get_data(as_text=True)
    delivery = sim.outbox[-1]
    assert delivery.topic == "app_purchases_one_time/update"
    for _ in range(3):  # the same delivery again (same webhook id) ...
        assert post_delivery(delivery).status_code == 200
    again = sim.signed(
        delivery.topic, delivery.shop, sim.payload(delivery.topic, sim.purchases[gid])
    )
    assert post_delivery(again).status_code == 200  # ... and a new delivery of the same event
    assert merchant.come_back(sim.decide(gid, approve=True)).status_code == 200  # a reload
    db.session.expire_all()
    assert credits.balance(merchant.shop.id).available == 1000
    assert [g.idempotency_key for g in _grants(db, merchant.shop.id)] == [gid]
    assert _purchase(db, gid).status == "active"
    assert ledger_matches_balance(merchant.shop.id)


def test_webhook_before_the_return_grants_once_too(merchant, sim, post_delivery, db):
    gid = merchant.buy()
    back = sim.decide(gid, approve=True)
    assert post_delivery(sim.outbox[-1]).status_code == 200  # webhook first
    db.session.expire_all()
    assert credits.balance(merchant.shop.id).available == 1000
    body = merchant.come_back(back).get_data(as_text=True)
    assert "Payment confirmed" in body and 'id="balance-available">1,000<' in body
    db.session.expire_all()
    assert credits.balance(merchant.shop.id).available == 1000
    assert ledger_matches_balance(merchant.shop.id)


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_two_packs_any_order_of_returns_and_webhooks(merchant, sim, post_delivery, db, order):
    first, second = merchant.buy("starter"), merchant.buy("growth")
    backs = [sim.decide(first, approve=True), sim.decide(second, approve=True)]
    steps = [
        lambda: merchant.come_back(backs[0]),
        lambda: [post_delivery(d) for d in list(sim.outbox)],
        lambda: merchant.come_back(backs[1]),
    ]
    for i in order:
        steps[i]()
    db.session.expire_all()
    assert credits.balance(merchant.shop.id).available == 6000
    assert ledger_matches_balance(merchant.shop.id)


def test_declined_pack_grants_nothing_and_says_so(merchant, sim, post_delivery, db):
    gid = merchant.buy()
    page = merchant.come_back(sim.decide(gid, approve=False))
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "You declined the charge" in body
    assert "no credits were added" in body
    assert post_delivery(sim.outbox[-1]).status_code == 200
    db.session.expire_all()
    assert _purchase(db, gid).status == "declined"
    assert credits.balance(merchant.shop.id).available == 0
    assert _grants(db, merchant.shop.id) == []


def test_expired_pack_grants_nothing_and_the_page_says_so(merchant, sim, post_delivery, db):
    gid = merchant.buy()
    sim.expire(gid)
    assert post_delivery(sim.outbox[-1]).status_code == 200
    db.session.expire_all()
    assert _purchase(db, gid).status == "expired"
    body = merchant.get("/billing/").get_data(as_text=True)
    assert "Expired" in body and credits.balance(merchant.shop.id).available == 0


def test_a_webhook_that_claims_active_is_not_trusted(merchant, sim, post_delivery, db):
    """The payload says ACTIVE, Shopify (GraphQL) says PENDING: no credits."""
    gid = merchant.buy()
    forged = dict(sim.purchases[gid], status="ACTIVE")
    delivery = sim.signed("app_purchases_one_time/update", forged["shop"],
                          sim.payload("app_purchases_one_time/update", forged))  # fmt: skip
    assert post_delivery(delivery).status_code == 200
    db.session.expire_all()
    assert _purchase(db, gid).status == "pending"
    assert credits.balance(merchant.shop.id).available == 0


def test_pending_pack_whose_webhook_was_lost_is_settled_by_the_sweeper(merchant, sim, db):
    from astronote.tasks.billing import billing_sweep

    gid = merchant.buy()
    sim.decide(gid, approve=True)  # the merchant approved; the webhook never arrived
    row = _purchase(db, gid)
    row.created_at = row.created_at.replace(year=row.created_at.year - 1)
    db.session.commit()
    assert billing_sweep.call_local()["packs"] == 1
    db.session.expire_all()
    assert credits.balance(merchant.shop.id).available == 1000


def test_forged_and_foreign_charge_ids_are_clear_errors(merchant, sim, client, make_shop, db):
    other = make_shop("beta.myshopify.com")
    gid = merchant.buy()
    number = gid.rsplit("/", 1)[1]
    theirs = client.get(f"/billing/return?charge_id={number}", headers=bearer(other.shop_domain))
    assert theirs.status_code == 404  # another shop's purchase is no purchase of theirs
    for bad in ("", "abc", "1 OR 1=1", "9" * 40, "-1"):
        response = merchant.get(f"/billing/return?charge_id={bad}")
        assert response.status_code == 422, bad
    assert merchant.get("/billing/return").status_code == 422
    assert merchant.get("/billing/return?charge_id=424242").status_code == 404
    assert merchant.post("/billing/packs/nope").status_code == 422
    assert credits.balance(merchant.shop.id).available == 0


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"app_purchase_one_time": None},
        {"app_purchase_one_time": "gid://shopify/AppPurchaseOneTime/1"},
        {"app_purchase_one_time": {"admin_graphql_api_id": 42}},
        {"app_purchase_one_time": {"admin_graphql_api_id": "gid://shopify/Customer/1"}},
        {"app_purchase_one_time": {"admin_graphql_api_id": "gid://shopify/AppPurchaseOneTime/9"}},
        {"app_subscription": {"admin_graphql_api_id": ["x"], "balance_used": "lots"}},
    ],
)
def test_junk_billing_webhooks_are_acknowledged_and_change_nothing(merchant, client, db, payload):
    for topic in (
        "app_purchases_one_time/update",
        "app_subscriptions/update",
        "app_subscriptions/approaching_capped_amount",
    ):
        body, headers = signed_webhook(
            "test-api-secret-that-is-32-bytes-long!", topic, merchant.shop.shop_domain, payload
        )
        assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 200
    assert credits.balance(merchant.shop.id).available == 0


def test_shopify_refusing_the_call_is_a_clear_error(merchant, shopify, db):
    shopify.fail_next(1, status=402)  # a frozen shop: not retried
    response = merchant.post("/billing/packs/starter")
    assert response.status_code == 502
    assert "Shopify did not answer" in response.get_data(as_text=True)
    assert db.session.execute(select(BillingPurchase)).first() is None


def test_a_purchase_update_after_uninstall_waits_for_the_reinstall(
    merchant, sim, post_delivery, deliver, open_app, db
):
    from astronote.tasks.billing import billing_sweep
    from tests.shopify.conftest import SHOP

    gid = merchant.buy()
    sim.decide(gid, approve=True)
    assert deliver("app/uninstalled", {"id": 1, "myshopify_domain": SHOP}).status_code == 200
    assert post_delivery(sim.outbox[-1]).status_code == 200  # no token: nothing to ask with
    db.session.expire_all()
    assert _purchase(db, gid).status == "pending" and credits.balance(merchant.shop.id) == (
        credits.Balance(0, 0)
    )
    assert open_app().status_code == 200  # reinstalled: the sweep verifies the pack
    row = _purchase(db, gid)
    row.created_at = row.created_at.replace(year=row.created_at.year - 1)
    db.session.commit()
    billing_sweep.call_local()
    db.session.expire_all()
    assert credits.balance(merchant.shop.id).available == 1000


def test_embedded_buy_answers_with_a_link_out_of_the_admins_frame(merchant, sim, client):
    response = client.post("/billing/packs/pro", headers={**merchant.headers, "HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    link = re.search(r'href="([^"]+)" target="_top"', body)
    assert link and link.group(1) in {
        sim.confirmation_url(merchant.shop.shop_domain, "purchase", int(g.rsplit("/", 1)[1]))
        for g in sim.purchases
    }


def test_purchase_history_pages(merchant, sim, db):
    gids = [merchant.buy() for _ in range(12)]
    first = merchant.get("/billing/").get_data(as_text=True)
    assert first.count("badge-attention") == 10  # ten pending purchases a page
    older = re.search(r'href="(/billing/\?purchases_after=\d+)"', first).group(1)
    second = merchant.get(older).get_data(as_text=True)
    assert second.count("badge-attention") == 2 and "Older purchases" not in second
    assert len(gids) == 12
