"""Pull the shop's Shopify customers that have phones, page by page, resumable.

It first reads the shop's time zone, currency and country (committed on their own).
Each page commits with its cursor, so a retried task continues where it stopped.
The Admin API client already backs off on Shopify's cost-based throttling.

Transaction owner: each page commits with its cursor.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from astronote.extensions import db
from astronote.integrations.shopify.admin_api import AdminApiError, customers_page, shop_facts
from astronote.models import CustomerSync, Shop, now_utc
from astronote.services.contacts import counts as contact_counts
from astronote.services.scoped import get_owned
from astronote.services.shopify import customer_payloads, shops
from astronote.services.shopify import customers as shopify_customers
from astronote.services.shopify import tokens as shop_tokens

log = logging.getLogger("astronote.sync")
ACTIVE = ("queued", "running")


def start(shop: Shop) -> CustomerSync:
    """Queue a sync unless one is already under way (returns that one then)."""
    running = db.session.execute(
        select(CustomerSync).filter_by(shop_id=shop.id).where(CustomerSync.status.in_(ACTIVE))
    ).scalar_one_or_none()
    if running is not None:
        return running
    sync = CustomerSync(shop_id=shop.id)
    db.session.add(sync)
    db.session.flush()
    return sync


def latest(shop: Shop) -> CustomerSync | None:
    query = select(CustomerSync).filter_by(shop_id=shop.id).order_by(CustomerSync.id.desc())
    return db.session.execute(query.limit(1)).scalar_one_or_none()


def get(shop: Shop, sync_id: int) -> CustomerSync:
    return get_owned(CustomerSync, shop.id, sync_id, "sync")


def run(sync_id: int) -> None:
    """Task body. Commits after every page."""
    sync = db.session.get(CustomerSync, sync_id)
    if sync is None or sync.status not in ACTIVE:
        return
    shop = db.session.get(Shop, sync.shop_id)
    if not shop.is_active:
        _finish(sync, "failed", "The app was uninstalled.")
        return
    sync.status = "running"
    db.session.commit()
    try:
        _read_shop_facts(shop)
        while True:
            nodes, next_cursor = shop_tokens.with_admin_api(
                shop,
                lambda client, token: customers_page(client, shop.shop_domain, token, sync.cursor),
            )
            _apply_page(shop, sync, nodes, next_cursor)
            if next_cursor is None:
                break
    except shop_tokens.ShopNotConnected as exc:
        db.session.rollback()
        _finish(sync, "failed", exc.message)
        return
    contact_counts.recount(shop.id)
    _finish(sync, "completed", None)


def _read_shop_facts(shop: Shop) -> None:
    """Time zone, currency and country, so a new shop is not left on UTC/USD. The sync runs
    right after install; a failure here must not cost the merchant their customers."""
    try:
        facts = shop_tokens.with_admin_api(
            shop, lambda client, token: shop_facts(client, shop.shop_domain, token)
        )
    except AdminApiError as exc:
        log.warning("shop facts for %s not read: %s", shop.shop_domain, exc)
        return
    shops.apply_facts(shop, facts["timezone"], facts["currency"], facts["country"])
    if facts["name"] and not shop.name:
        shop.name = str(facts["name"])[:255]
    db.session.commit()


def _apply_page(shop: Shop, sync: CustomerSync, nodes: list[dict], next_cursor) -> None:
    customers = [customer_payloads.from_graphql(shop, node) for node in nodes]
    written = shopify_customers.upsert(shop, [c for c in customers if c])
    sync.pages += 1
    sync.seen += len(nodes)
    sync.imported += written
    sync.skipped += len(nodes) - written
    sync.cursor = next_cursor
    db.session.commit()


def _finish(sync: CustomerSync, status: str, reason: str | None) -> None:
    sync.status, sync.failure_reason, sync.finished_at = status, reason, now_utc()
    db.session.commit()
    log.info("customer sync %s %s: %s imported", sync.id, status, sync.imported)
