"""What each billing webhook topic does (app_purchases_one_time/update, app_subscriptions/*).

Payloads name the charge by `admin_graphql_api_id`; nothing else in them is trusted for a
grant: every handler reads the charge back from Shopify. A payload without a usable id is
logged and left (the delivery stays recorded in webhook_events), never an error loop.
"""

from __future__ import annotations

import logging

from astronote.integrations.shopify import billing as api
from astronote.models import Shop, WebhookEvent
from astronote.services.billing import packs, plans

log = logging.getLogger("astronote.billing")


def _charge(payload: dict, key: str, prefix: str) -> tuple[dict, str] | None:
    body = payload.get(key)
    gid = body.get("admin_graphql_api_id") if isinstance(body, dict) else None
    if not isinstance(gid, str) or not gid.startswith(prefix) or len(gid) > 120:
        log.warning("billing webhook without a usable %s id: ignored", key)
        return None
    return body, gid


def _cents(value) -> int | None:
    try:
        return api.cents(value) if value is not None else None
    except ValueError:
        return None


def _purchase_updated(shop: Shop, payload: dict, event: WebhookEvent) -> None:
    found = _charge(payload, "app_purchase_one_time", packs.PURCHASE_GID)
    if found:
        packs.on_webhook(shop, found[1])


def _subscription_updated(shop: Shop, payload: dict, event: WebhookEvent) -> None:
    found = _charge(payload, "app_subscription", plans.SUBSCRIPTION_GID)
    if found:
        status = found[0].get("status")
        plans.on_update(shop, found[1], status.upper() if isinstance(status, str) else None)


def _approaching_cap(shop: Shop, payload: dict, event: WebhookEvent) -> None:
    found = _charge(payload, "app_subscription", plans.SUBSCRIPTION_GID)
    if found:
        body, gid = found
        used, cap = _cents(body.get("balance_used")), _cents(body.get("capped_amount"))
        plans.on_approaching_cap(shop, gid, used, cap)


HANDLERS: dict = {
    "app_purchases_one_time/update": _purchase_updated,
    "app_subscriptions/update": _subscription_updated,
    "app_subscriptions/approaching_capped_amount": _approaching_cap,
}
