"""Shopify webhooks: record each delivery once, then apply it by topic in a task."""

from __future__ import annotations

import json
import logging

from sqlalchemy import select

from astronote.extensions import db
from astronote.integrations.shopify.webhooks import WebhookDelivery
from astronote.models import Shop, WebhookEvent, now_utc
from astronote.services.shopify import customers as shopify_customers
from astronote.services.shopify import gdpr as compliance
from astronote.services.shopify import orders, shops

log = logging.getLogger("astronote.webhooks")


def record(delivery: WebhookDelivery, raw_body: bytes) -> WebhookEvent | None:
    """Store a verified delivery; None when this webhook id was seen before (a replay)."""
    seen = db.session.execute(
        select(WebhookEvent.id).filter_by(webhook_id=delivery.webhook_id)
    ).scalar_one_or_none()
    if seen is not None:
        return None
    event = WebhookEvent(
        webhook_id=delivery.webhook_id,
        topic=delivery.topic,
        shop_domain=delivery.shop_domain,
        api_version=delivery.api_version,
        triggered_at=delivery.triggered_at,
        payload=raw_body.decode("utf-8", errors="replace"),
    )
    db.session.add(event)
    return event


def _shop(domain: str) -> Shop | None:
    return db.session.execute(select(Shop).filter_by(shop_domain=domain)).scalar_one_or_none()


def _uninstalled(shop, payload, event):
    if event.triggered_at and shop.installed_at > event.triggered_at:
        log.info("stale app/uninstalled for %s ignored: reinstalled since", shop.shop_domain)
        return
    shops.uninstall(shop)


def _customer_changed(shop, payload, event):
    shopify_customers.upsert(shop, [shopify_customers.from_webhook(shop, payload)])


HANDLERS = {
    "app/uninstalled": _uninstalled,
    "customers/create": _customer_changed,
    "customers/update": _customer_changed,
    "customers/redact": lambda shop, p, e: compliance.redact_customer(shop, p, e.webhook_id),
    "customers/data_request": lambda shop, p, e: compliance.export_customer(shop, p, e.webhook_id),
    "orders/create": lambda shop, p, e: orders.record_order(shop, p),
    "checkouts/create": lambda shop, p, e: orders.record_checkout(shop, p),
    "checkouts/update": lambda shop, p, e: orders.record_checkout(shop, p),
}
TOPICS = frozenset(HANDLERS) | {"shop/redact"}


def process(event_id: int) -> None:
    """Apply one stored delivery; safe to run twice. Caller commits."""
    event = db.session.get(WebhookEvent, event_id)
    if event is None or event.status == "processed":
        return
    payload = json.loads(event.payload or "{}")
    if event.topic == "shop/redact":
        compliance.redact_shop(event.shop_domain, event.webhook_id)
    else:
        shop = _shop(event.shop_domain)
        if shop is None:
            log.info("webhook %s for unknown shop %s ignored", event.topic, event.shop_domain)
        else:
            HANDLERS[event.topic](shop, payload, event)
    event.status, event.processed_at = "processed", now_utc()
    event.payload = ""  # data minimisation: the payload has served its purpose
