"""Discount fixtures: an installed, funded shop (real token exchange against the fake
Shopify), the fake's discount simulator fresh per test, the Mitto simulator, contacts,
and a campaign with unique codes composed through the real form parser."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from astronote.devtools.discount_sim import DiscountSim
from astronote.models import Campaign, DiscountCode, Message
from astronote.services import credits
from astronote.services.campaigns import lifecycle as campaigns
from astronote.services.contacts.csv_rows import ContactRecord
from astronote.services.contacts.upsert import write_batch
from astronote.services.discounts import prepare
from tests.conftest import bearer
from tests.sending.conftest import mitto_sim, sim  # noqa: F401
from tests.shopify.conftest import SHOP, installed, open_app, shopify  # noqa: F401

BODY = "Hi {{first_name}}, 20% off with {{discount_code}}"


@pytest.fixture
def discounts(shopify, monkeypatch):  # noqa: F811
    """Fresh discount state on the session's fake Shopify; polls and retries don't wait."""
    shopify.discounts = DiscountSim()
    monkeypatch.setattr(prepare, "SLEEP", lambda seconds: None)
    return shopify.discounts


@pytest.fixture
def merchant(installed, db):  # noqa: F811
    """The installed shop, funded, its sending rules out of the way."""
    credits.grant(installed.id, 1_000_000, "test-grant", "test credits")
    installed.quiet_start = installed.quiet_end = time(0, 0)
    installed.frequency_cap_hours = 0
    installed.sender_id = "+14155550100"
    db.session.commit()
    return installed


@pytest.fixture
def headers():
    return {**bearer(SHOP), "HX-Request": "true"}


def add_contacts(db, shop, n: int, start: int = 1000) -> list[str]:
    records = [
        ContactRecord(line=i, phone=f"+1415555{start + i:04d}", first_name=f"Ann{i % 5}",
                      consent="subscribed")
        for i in range(n)
    ]  # fmt: skip
    write_batch(shop.id, 0, {"first_name", "consent"}, records, evidence="test")
    db.session.commit()
    return [r.phone for r in records]


def compose(db, shop, body: str = BODY, **fields) -> Campaign:
    """A draft with unique codes (20% off until next week), saved as the composer does."""
    form = MultiDict(
        {
            "name": "Winter sale",
            "body": body,
            "unique_codes": "on",
            "unique_kind": "percentage",
            "unique_value": "20",
            "unique_ends": (date.today() + timedelta(days=7)).isoformat(),
            **fields,
        }
    )
    campaign = campaigns.save(shop, campaigns.parse_form(shop, form))
    db.session.commit()
    return campaign


def rows(db, campaign_id: int) -> list[tuple[Message, str | None]]:
    """Each message of the campaign with its stored code (None: it has none)."""
    db.session.expire_all()
    query = (
        select(Message, DiscountCode.code)
        .outerjoin(DiscountCode, DiscountCode.message_id == Message.id)
        .where(Message.campaign_id == campaign_id)
        .order_by(Message.id)
    )
    return [(m, code) for m, code in db.session.execute(query).all()]
