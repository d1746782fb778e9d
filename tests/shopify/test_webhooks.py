"""Webhook verification, replay protection, and each topic's effect."""

from sqlalchemy import func, select

from astronote.models import (
    AbandonedCheckout,
    ComplianceRecord,
    ConsentEvent,
    Contact,
    CustomerDataExport,
    Order,
    Shop,
    WebhookEvent,
)
from tests.fakes.shopify_server import consent_payload, customer_payload, signed_webhook
from tests.shopify.conftest import SHOP, as_json, iso


def _count(db, model, **filters) -> int:
    return db.session.execute(
        select(func.count()).select_from(model).filter_by(**filters)
    ).scalar_one()


def _contact(db, phone) -> Contact | None:
    db.session.expire_all()
    return db.session.execute(select(Contact).filter_by(phone=phone)).scalar_one_or_none()


def test_bad_hmac_is_401_and_nothing_is_recorded(installed, deliver, db):
    response = deliver("customers/redact", {"customer": {"id": 1}}, secret="wrong-secret")
    assert response.status_code == 401
    assert _count(db, WebhookEvent) == 0


def test_missing_hmac_and_tampered_body_are_401(installed, client, db):
    body, headers = signed_webhook(
        "test-api-secret-that-is-32-bytes-long!", "shop/redact", SHOP, {"shop_domain": SHOP}
    )
    assert client.post("/webhooks/shopify", data=body + b" ", headers=headers).status_code == 401
    headers.pop("X-Shopify-Hmac-Sha256")
    assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 401
    assert _count(db, Shop) == 1


def test_old_secret_is_accepted_during_rotation(app, installed, db):
    app.config["SHOPIFY_API_SECRET_OLD"] = "the-previous-secret-the-previous-1"
    body, headers = signed_webhook(
        app.config["SHOPIFY_API_SECRET_OLD"], "orders/create", SHOP, {"id": 5, "created_at": iso()}
    )
    assert (
        app.test_client().post("/webhooks/shopify", data=body, headers=headers).status_code == 200
    )


def test_replayed_delivery_is_processed_once(installed, deliver, db):
    payload = {"id": 77, "created_at": iso(), "total_price": "10.00", "currency": "EUR"}
    first = deliver("orders/create", payload, webhook_id="wh-1")
    replay = deliver("orders/create", payload, webhook_id="wh-1")
    assert as_json(first)["status"] == "accepted"
    assert as_json(replay)["status"] == "duplicate"
    assert _count(db, WebhookEvent) == 1 and _count(db, Order) == 1
    event = db.session.execute(select(WebhookEvent)).scalar_one()
    assert event.status == "processed" and event.payload == ""  # payload not kept after use


def test_garbage_headers_and_body_get_clear_4xx(installed, client):
    body, headers = signed_webhook(
        "test-api-secret-that-is-32-bytes-long!", "orders/create", "not a shop", {"id": 1}
    )
    assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 400
    raw, headers = signed_webhook(
        "test-api-secret-that-is-32-bytes-long!", "orders/create", SHOP, b"{not json"
    )
    response = client.post("/webhooks/shopify", data=raw, headers=headers)
    assert response.status_code == 400 and as_json(response)["error"] == "invalid_json"


def test_unsubscribed_topics_are_acknowledged_and_ignored(installed, deliver, db):
    response = deliver("products/update", {"id": 1})
    assert response.status_code == 200 and as_json(response)["status"] == "ignored"
    assert _count(db, WebhookEvent) == 0


def test_shop_redact_erases_everything_and_logs_it(installed, deliver, db):
    db.session.add(Contact(shop_id=installed.id, phone="+14155550123", email="a@example.com"))
    db.session.commit()
    deliver("customers/update", {"id": 9, "phone": "+14155550999"})
    response = deliver("shop/redact", {"shop_id": 1, "shop_domain": SHOP})
    assert response.status_code == 200
    assert _count(db, Shop) == 0 and _count(db, Contact) == 0
    assert _count(db, WebhookEvent, topic="customers/update") == 0
    record = db.session.execute(select(ComplianceRecord)).scalar_one()
    assert record.topic == "shop/redact" and "deleted shop" in record.action


def test_customer_redact_erases_that_customer_only(installed, deliver, db):
    deliver("customers/create", customer_payload(501, "+14155550101", email="ada@example.com"))
    deliver(
        "customers_marketing_consent/update",
        consent_payload(501, "+14155550101", updated_at=iso(-5)),
    )
    deliver("customers/create", {"id": 502, "phone": "+14155550102"})
    assert _count(db, ConsentEvent) == 1
    response = deliver(
        "customers/redact",
        {
            "shop_domain": SHOP,
            "customer": {"id": 501, "email": "ada@example.com", "phone": "+14155550101"},
            "orders_to_redact": [1],
        },
    )
    assert response.status_code == 200
    assert _contact(db, "+14155550101") is None and _contact(db, "+14155550102") is not None
    assert _count(db, ConsentEvent) == 0
    record = db.session.execute(select(ComplianceRecord)).scalar_one()
    assert record.shopify_customer_id == 501 and "deleted 1 contact" in record.action


def test_data_request_builds_an_export_the_merchant_can_download(installed, deliver, client, db):
    deliver("customers/create", customer_payload(601, "+14155550101", first_name="Ada"))
    deliver("customers_marketing_consent/update", consent_payload(601, "+14155550101"))
    deliver(
        "customers/data_request",
        {
            "shop_domain": SHOP,
            "customer": {"id": 601, "phone": "+14155550101"},
            "data_request": {"id": 42},
        },
    )
    export = db.session.execute(select(CustomerDataExport)).scalar_one()
    assert export.contacts_found == 1
    from tests.conftest import bearer

    settings = client.get("/settings", headers=bearer(SHOP))
    assert f"/settings/data-requests/{export.id}.json" in settings.get_data(as_text=True)
    download = client.get(f"/settings/data-requests/{export.id}.json", headers=bearer(SHOP))
    document = as_json(download)
    assert document["data_request_id"] == 42
    contact = document["contacts"][0]
    assert contact["phone"] == "+14155550101" and contact["first_name"] == "Ada"
    assert contact["consent_history"][0]["source"] == "shopify"
    assert _count(db, ComplianceRecord, topic="customers/data_request") == 1


def test_consent_topic_takes_newer_consent_but_never_older(installed, deliver, db):
    phone = "+14155550107"
    topic = "customers_marketing_consent/update"
    deliver(topic, consent_payload(7, phone, "subscribed", iso(-60)))
    contact = _contact(db, phone)
    assert contact.consent_state == "subscribed" and contact.shopify_customer_id == 7
    deliver(topic, consent_payload(7, phone, "not_subscribed", iso(-120)))
    assert _contact(db, phone).consent_state == "subscribed"  # stale: ignored
    deliver(topic, consent_payload(7, phone, "unsubscribed", iso(-1)))
    assert _contact(db, phone).consent_state == "unsubscribed"


def test_order_links_contact_and_recovers_only_its_checkout(installed, deliver, db):
    deliver("customers/create", {"id": 8, "phone": "+14155550108"})
    for token in ("chk-a", "chk-b"):
        deliver(
            "checkouts/create",
            {
                "token": token,
                "customer": {"id": 8},
                "updated_at": iso(-30),
                "line_items": [{}],
                "abandoned_checkout_url": "https://x/r",
            },
        )
    deliver(
        "checkouts/update",
        {"token": "chk-a", "customer": {"id": 8}, "updated_at": iso(-40), "line_items": [{}, {}]},
    )  # older than what we hold: ignored
    deliver(
        "orders/create",
        {
            "id": 900,
            "customer": {"id": 8},
            "checkout_token": "chk-a",
            "total_price": "25.50",
            "currency": "EUR",
            "created_at": iso(),
        },
    )
    contact = _contact(db, "+14155550108")
    assert contact.orders_count == 1 and contact.last_order_at is not None
    order = db.session.execute(select(Order)).scalar_one()
    assert order.contact_id == contact.id and float(order.total_price) == 25.5
    checkouts = {
        c.checkout_token: c for c in db.session.execute(select(AbandonedCheckout)).scalars()
    }
    assert checkouts["chk-a"].completed_at is not None and checkouts["chk-a"].line_item_count == 1
    assert checkouts["chk-b"].completed_at is None
