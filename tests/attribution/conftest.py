"""Attribution fixtures: sent messages of a campaign and a flow, clicks through the real
redirect, and signed Shopify deliveries for the shop."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from astronote.models import (
    Automation,
    AutomationRun,
    Campaign,
    Contact,
    Message,
    OrderAttribution,
    ReportDaily,
)
from astronote.services import links
from astronote.services.links import clicks, codec
from tests.conftest import TEST_API_SECRET
from tests.fakes.shopify_webhooks import Shopify
from tests.links.conftest import UA_IPHONE, click_writer  # noqa: F401

_order_ids = itertools.count(7_100_000_001)


def now() -> datetime:
    return datetime.now(UTC)


def next_order_id() -> int:
    return next(_order_ids)


@pytest.fixture
def shopify(client, shop):
    return Shopify(client, TEST_API_SECRET, shop.shop_domain)


@pytest.fixture
def contact(db):
    def make(shop, phone="+12125550123", customer_id=None) -> Contact:
        person = Contact(
            shop_id=shop.id, phone=phone, consent_state="subscribed",
            shopify_customer_id=customer_id,
        )  # fmt: skip
        db.session.add(person)
        db.session.commit()
        return person

    return make


@pytest.fixture
def campaign(db):
    def make(shop, name="Winter sale", body="Sale! https://alpha.example/sale", code=None):
        row = Campaign(shop_id=shop.id, name=name, body=body, status="sent", discount_code=code)
        db.session.add(row)
        db.session.commit()
        return row

    return make


@pytest.fixture
def flow(db):
    def make(shop, key="winback", code=None) -> Automation:
        row = Automation(shop_id=shop.id, flow=key, body="Back? https://alpha.example/b",
                         enabled=True, discount_code=code)  # fmt: skip
        db.session.add(row)
        db.session.commit()
        return row

    return make


@pytest.fixture
def sent_message(db):
    """A message as the send path and a delivery report leave it (sent_at, status)."""

    def make(shop, person, campaign=None, flow=None, sent_at=None, status="delivered",
             kind=None) -> Message:  # fmt: skip
        at = sent_at or now() - timedelta(minutes=30)
        message = Message(
            shop_id=shop.id, campaign_id=campaign.id if campaign else None,
            contact_id=person.id, kind=kind or ("campaign" if campaign else "automation"),
            phone=person.phone, body="Sale!", segments=1, credits=1, status=status,
            sent_at=at, delivered_at=at + timedelta(seconds=5) if status == "delivered" else None,
        )  # fmt: skip
        db.session.add(message)
        db.session.flush()
        if flow is not None:
            db.session.add(AutomationRun(
                shop_id=shop.id, flow=flow.flow, trigger_key=f"m:{message.id}",
                contact_id=person.id, due_at=at, status="queued", message_id=message.id,
                context={"first_name": "Ann"},
            ))  # fmt: skip
        db.session.commit()
        return message

    return make


@pytest.fixture
def click(client, db):
    """Open the message's short link through the redirect, as the recipient's phone does,
    and write the click batch."""

    def open_link(shop, message, source_kind="campaign", source_id=None, name="Sale"):
        source = links.Source(source_kind, source_id, name)
        prepared = links.prepare(shop.id, source, "Sale! https://alpha.example/sale")
        db.session.commit()
        code = codec.encode(prepared.id, message.id, 0)
        response = client.get(f"/l/{code}", headers={"User-Agent": UA_IPHONE})
        assert response.status_code == 302
        assert clicks.buffer().flush() == 1

    return open_link


@pytest.fixture
def attributed(db):
    def read(shop):
        db.session.expire_all()
        query = select(OrderAttribution).filter_by(shop_id=shop.id).order_by(OrderAttribution.id)
        return db.session.execute(query).scalars().all()

    return read


@pytest.fixture
def money(db):
    """(orders, revenue_cents, refunds_cents) of a source in the rollup, over all days."""

    def read(shop, kind, source_id):
        db.session.expire_all()
        rows = db.session.execute(
            select(ReportDaily).filter_by(shop_id=shop.id, source_kind=kind, source_id=source_id)
        ).scalars()
        totals = [0, 0, 0]
        for r in rows:
            totals = [totals[0] + r.orders, totals[1] + r.revenue_cents,
                      totals[2] + r.refunds_cents]  # fmt: skip
        return tuple(totals)

    return read
