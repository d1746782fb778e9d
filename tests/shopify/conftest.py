import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from astronote.models import Shop
from tests.conftest import TEST_API_KEY, TEST_API_SECRET
from tests.fakes.shopify_server import sign_session_token, signed_webhook

SHOP = "gamma.myshopify.com"


@pytest.fixture
def shopify(fake_shopify):
    """The session's fake Shopify, with per-test state cleared."""
    fake_shopify.customers.clear()
    fake_shopify.shop_info.clear()
    fake_shopify.consent_updates.clear()
    fake_shopify.requests.clear()
    fake_shopify._throttles.clear()
    fake_shopify._failures.clear()
    return fake_shopify


@pytest.fixture
def open_app(client, shopify):
    """Open the app from the admin: a document load carrying a fresh id_token."""

    def load(shop: str = SHOP, path: str = "/contacts"):
        token = sign_session_token(TEST_API_KEY, TEST_API_SECRET, shop)
        return client.get(f"{path}?embedded=1&shop={shop}&id_token={token}")

    return load


@pytest.fixture
def deliver(client):
    """POST a Shopify-signed webhook delivery."""

    def post(topic: str, payload: dict, shop: str = SHOP, webhook_id=None, secret=TEST_API_SECRET):
        body, headers = signed_webhook(secret, topic, shop, payload, webhook_id)
        return client.post("/webhooks/shopify", data=body, headers=headers)

    return post


@pytest.fixture
def installed(open_app, db):
    """A shop installed through the real token exchange."""
    assert open_app().status_code == 200
    return db.session.execute(select(Shop).filter_by(shop_domain=SHOP)).scalar_one()


def iso(delta_minutes: int = 0) -> str:
    return (datetime.now(UTC) + timedelta(minutes=delta_minutes)).isoformat()


def as_json(response):
    return json.loads(response.get_data(as_text=True))
