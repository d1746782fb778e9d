"""Shopify's 2025-01 customer webhooks (consent and tags have their own topics), the sync's
tags and order statistics, and the shop's own time zone, currency and country."""

import tomllib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from astronote.models import ConsentEvent, Contact, ContactTag, Shop
from astronote.services.shopify import webhook_events
from tests.conftest import bearer
from tests.fakes.shopify_server import (
    consent_payload,
    customer_payload,
    shop_payload,
    tags_payload,
)
from tests.shopify.conftest import SHOP, as_json, iso

PHONE = "+14155550123"


def _contact(db, phone=PHONE) -> Contact:
    db.session.expire_all()
    return db.session.execute(select(Contact).filter_by(phone=phone)).scalar_one()


def _tags(db, contact) -> list[str]:
    query = select(ContactTag.tag).filter_by(contact_id=contact.id).order_by(ContactTag.tag)
    return list(db.session.execute(query).scalars())


def _shop(db) -> Shop:
    db.session.expire_all()
    return db.session.execute(select(Shop).filter_by(shop_domain=SHOP)).scalar_one()


def test_checkout_opt_in_arrives_on_the_consent_topic_and_subscribes(installed, deliver, db):
    deliver("customers/create", customer_payload(42, PHONE, first_name="Ada"))
    assert _contact(db).consent_state == "not_subscribed"
    response = deliver("customers_marketing_consent/update", consent_payload(42, PHONE))
    assert response.status_code == 200 and as_json(response)["status"] == "accepted"
    contact = _contact(db)
    assert contact.consent_state == "subscribed" and contact.first_name == "Ada"
    event = db.session.execute(select(ConsentEvent)).scalar_one()
    assert event.source == "shopify" and "single_opt_in" in event.evidence


def test_consent_without_a_phone_applies_to_the_number_we_hold(installed, deliver, db):
    deliver("customers/create", customer_payload(43, PHONE))
    deliver("customers_marketing_consent/update", consent_payload(43, None))
    assert _contact(db).consent_state == "subscribed"


def test_customer_update_payload_no_longer_drives_consent(installed, deliver, db):
    deliver("customers_marketing_consent/update", consent_payload(44, PHONE, "subscribed"))
    deliver("customers/update", customer_payload(44, PHONE, last_name="Lovelace"))
    contact = _contact(db)
    assert contact.consent_state == "subscribed" and contact.last_name == "Lovelace"


def test_tags_added_and_removed_topics_change_the_contacts_tags(installed, deliver, db):
    deliver("customers/create", customer_payload(45, PHONE))
    added = deliver("customer.tags_added", tags_payload(45, ["VIP", "Wholesale  Buyer"]))
    assert added.status_code == 200 and as_json(added)["status"] == "accepted"
    assert _tags(db, _contact(db)) == ["vip", "wholesale buyer"]
    deliver("customer.tags_added", tags_payload(45, ["vip"]))  # already held: no duplicate
    deliver("customer.tags_removed", tags_payload(45, ["VIP"]))
    assert _tags(db, _contact(db)) == ["wholesale buyer"]


def test_app_toml_subscribes_every_handled_topic(app):
    config = tomllib.loads((Path(app.root_path).parent / "shopify.app.toml").read_text())
    topics, compliance = set(), set()
    for subscription in config["webhooks"]["subscriptions"]:
        topics.update(subscription.get("topics", []))
        compliance.update(subscription.get("compliance_topics", []))
    for topic in (
        "customers_marketing_consent/update",
        "customer.tags_added",
        "customer.tags_removed",
        "shop/update",
    ):
        assert topic in topics
    assert topics | compliance == set(webhook_events.TOPICS)
    assert config["webhooks"]["api_version"] == "2026-10"


def test_sync_keeps_tags_and_order_statistics(installed, shopify, client, db):
    shopify.add_customer(
        SHOP,
        phone=PHONE,
        sms_state="SUBSCRIBED",
        tags=["VIP", "Spring 2026"],
        numberOfOrders="3",
        amountSpent={"amount": "123.45", "currencyCode": "EUR"},
        lastOrder={"createdAt": "2026-11-20T10:00:00Z"},
    )
    shopify.add_customer(SHOP, phone="+14155550124")  # no orders yet
    assert client.post("/settings/customer-sync", headers=bearer(SHOP)).status_code in (200, 204)
    buyer = _contact(db)
    assert _tags(db, buyer) == ["spring 2026", "vip"]
    assert buyer.orders_count == 3 and buyer.amount_spent == Decimal("123.45")
    assert buyer.last_order_at.replace(tzinfo=UTC) == datetime(2026, 11, 20, 10, tzinfo=UTC)
    other = _contact(db, "+14155550124")
    assert other.orders_count == 0 and other.last_order_at is None and _tags(db, other) == []


def test_install_reads_the_shops_time_zone_currency_and_country(open_app, shopify, db):
    shopify.shop_info[SHOP] = {
        "name": "Gamma Goods",
        "ianaTimezone": "Europe/Athens",
        "currencyCode": "EUR",
        "billingAddress": {"countryCodeV2": "GR"},
    }
    assert open_app().status_code == 200
    shop = _shop(db)
    assert (shop.timezone, shop.currency, shop.country) == ("Europe/Athens", "EUR", "GR")


def test_shop_update_changes_time_zone_currency_and_country(installed, deliver, db):
    payload = shop_payload(SHOP, iana_timezone="America/Toronto", currency="CAD", country_code="CA")
    assert deliver("shop/update", payload).status_code == 200
    shop = _shop(db)
    assert (shop.timezone, shop.currency, shop.country) == ("America/Toronto", "CAD", "CA")
    deliver("shop/update", shop_payload(SHOP, iana_timezone="Mars/Base", currency=5))
    assert _shop(db).timezone == "America/Toronto" and _shop(db).currency == "CAD"


def test_orders_add_to_the_amount_spent(installed, deliver, db):
    deliver("customers/create", customer_payload(46, PHONE))
    for order_id, total in ((1, "10.50"), (2, "4.25")):
        deliver(
            "orders/create",
            {"id": order_id, "customer": {"id": 46}, "total_price": total, "created_at": iso()},
        )
    contact = _contact(db)
    assert contact.orders_count == 2 and contact.amount_spent == Decimal("14.75")
