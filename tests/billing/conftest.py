"""Billing fixtures: an installed shop (real token exchange against the fake Shopify), the
fake's billing simulator fresh per test, and helpers to walk a charge as a merchant."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from astronote.devtools.billing_sim import BillingSim
from astronote.models import CreditLedgerEntry
from astronote.services import credits
from tests.conftest import TEST_API_SECRET, bearer
from tests.shopify.conftest import SHOP, deliver, installed, open_app, shopify  # noqa: F401


@pytest.fixture
def sim(shopify):  # noqa: F811
    """Fresh billing state on the session's fake Shopify."""
    shopify.billing = BillingSim(TEST_API_SECRET, shopify.base_url)
    return shopify.billing


@pytest.fixture
def merchant(client, installed, sim):  # noqa: F811
    """The installed shop's merchant: data requests carry a valid session token."""

    class Merchant:
        shop = installed
        headers = bearer(SHOP)

        def get(self, path, **kw):
            return client.get(path, headers=self.headers, **kw)

        def post(self, path, data=None, **kw):
            return client.post(path, data=data or {}, headers=self.headers, **kw)

        def buy(self, code="starter") -> str:
            """Buy a pack; returns the purchase GID Shopify created."""
            response = self.post(f"/billing/packs/{code}")
            assert response.status_code == 303, response.get_data(as_text=True)[:500]
            number = response.headers["Location"].rstrip("/").split("/")[-2]
            return f"gid://shopify/AppPurchaseOneTime/{number}"

        def come_back(self, return_url: str):
            """Follow Shopify's redirect back to the app (the return URL + charge_id)."""
            path = return_url.split("://", 1)[1].split("/", 1)[1]
            return self.get("/" + path)

    return Merchant()


@pytest.fixture
def post_delivery(client):
    def post(delivery):
        return client.post("/webhooks/shopify", data=delivery.body, headers=delivery.headers)

    return post


def ledger_matches_balance(shop_id: int) -> bool:
    """The ledger's sums equal the balance row, and no idempotency key appears twice."""
    from astronote.extensions import db

    keys = db.session.execute(
        select(func.count(), func.count(func.distinct(CreditLedgerEntry.idempotency_key))).where(
            CreditLedgerEntry.shop_id == shop_id
        )
    ).one()
    return credits.ledger_totals(shop_id) == credits.balance(shop_id) and keys[0] == keys[1]
