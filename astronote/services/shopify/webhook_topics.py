"""What each subscribed Shopify topic does (API 2026-10 payloads). Flush only.

Customer webhooks changed in 2025-01: `customers/create|update` carry neither consent nor
tags, so consent comes from `customers_marketing_consent/update` and tags from
`customer.tags_added` / `customer.tags_removed` (payload `customerId` (a GID), `tags`,
`occurredAt`).
"""

from __future__ import annotations

import logging

from astronote.models import Shop, WebhookEvent
from astronote.services.attribution import ledger as attribution
from astronote.services.automations import triggers
from astronote.services.billing import webhooks as billing_webhooks
from astronote.services.shopify import customer_payloads, customer_tags, orders, shops
from astronote.services.shopify import customers as shopify_customers
from astronote.services.shopify import gdpr as compliance

log = logging.getLogger("astronote.webhooks")


def _uninstalled(shop: Shop, payload: dict, event: WebhookEvent) -> None:
    if event.triggered_at and shop.installed_at > event.triggered_at:
        log.info("stale app/uninstalled for %s ignored: reinstalled since", shop.shop_domain)
        return
    shops.uninstall(shop)


def _customer_changed(shop: Shop, payload: dict, event: WebhookEvent) -> None:
    shopify_customers.upsert(shop, [customer_payloads.from_webhook(shop, payload)])


def _consent_changed(shop: Shop, payload: dict, event: WebhookEvent) -> None:
    customer = customer_payloads.from_consent_webhook(shop, payload)
    shopify_customers.upsert(shop, [customer], welcome=True)


def _order_created(shop: Shop, payload: dict, event: WebhookEvent) -> None:
    if (order := orders.record_order(shop, payload)) is not None:
        triggers.order_placed(shop, order)
        attribution.attribute_order(shop, order, payload)  # once per order (its own key)


def _checkout_changed(shop: Shop, payload: dict, event: WebhookEvent) -> None:
    if (checkout := orders.record_checkout(shop, payload)) is not None:
        triggers.checkout_abandoned(shop, checkout)


def _fulfillment(delivered_only: bool):
    """fulfillments/create: shipped; fulfillments/update: only the delivered status counts."""

    def handle(shop: Shop, payload: dict, event: WebhookEvent) -> None:
        delivered = payload.get("shipment_status") == "delivered"
        if delivered_only and not delivered:
            return
        order = orders.find_order(shop, payload.get("order_id"))
        triggers.fulfilled(shop, order, payload, delivered)

    return handle


def _tag_change(apply):
    def handle(shop: Shop, payload: dict, event: WebhookEvent) -> None:
        customer_id = customer_payloads.customer_id(payload.get("customerId"))
        apply(shop, customer_id, customer_tags.normalise(payload.get("tags")))

    return handle


HANDLERS = {
    "app/uninstalled": _uninstalled,
    "shop/update": lambda shop, p, e: shops.apply_shop_update(shop, p),
    "customers/create": _customer_changed,
    "customers/update": _customer_changed,
    "customers_marketing_consent/update": _consent_changed,
    "customer.tags_added": _tag_change(customer_tags.add),
    "customer.tags_removed": _tag_change(customer_tags.remove),
    "customers/redact": lambda shop, p, e: compliance.redact_customer(shop, p, e.webhook_id),
    "customers/data_request": lambda shop, p, e: compliance.export_customer(shop, p, e.webhook_id),
    "orders/create": _order_created,
    "refunds/create": lambda shop, p, e: attribution.record_refund(shop, p),
    "checkouts/create": _checkout_changed,
    "checkouts/update": _checkout_changed,
    "fulfillments/create": _fulfillment(delivered_only=False),
    "fulfillments/update": _fulfillment(delivered_only=True),
    **billing_webhooks.HANDLERS,
}
