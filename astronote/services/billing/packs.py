"""Credit packs: appPurchaseOneTimeCreate, verified through GraphQL, granted exactly once.

The purchase's GID is the ledger's idempotency key, so the return page, every webhook
redelivery and any race between them grant the pack's credits once between them. The
credits granted come from our own row, never from a request or a payload.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from astronote.errors import NotFound, ValidationFailed
from astronote.extensions import db
from astronote.integrations.shopify import billing as api
from astronote.models import (
    FINAL_PURCHASE_STATES,
    BillingPurchase,
    PurchaseKind,
    PurchaseStatus,
    Shop,
    now_utc,
)
from astronote.services import credits
from astronote.services.billing import gateway

log = logging.getLogger("astronote.billing")
PURCHASE_GID = "gid://shopify/AppPurchaseOneTime/"
_CHARGE_ID = re.compile(r"[0-9]{1,20}")
_FINAL = {"ACTIVE", "DECLINED", "EXPIRED"}  # Shopify's final states (AppPurchaseStatus)
FINAL = {s.value for s in FINAL_PURCHASE_STATES} | {PurchaseStatus.FAILED.value}
GIVE_UP = timedelta(days=7)


@dataclass(frozen=True)
class Pack:
    code: str
    credits: int
    price_cents: int
    currency: str

    @property
    def name(self) -> str:
        return f"{self.credits:,} Astronote credits"


def catalogue() -> list[Pack]:
    cur = gateway.currency()
    return [Pack(p["code"], p["credits"], p["price_cents"], cur) for p in _packs()]


def _packs():
    return current_app.config["BILLING_PACKS"]


def find_pack(code: str) -> Pack:
    pack = next((p for p in catalogue() if p.code == code), None)
    if pack is None:
        raise ValidationFailed({"pack": "Choose one of the packs on this page."})
    return pack


def buy(shop: Shop, code: str) -> str:
    """Create the charge at Shopify, record it pending; return the confirmation URL.

    Flush only: the caller commits before sending the merchant to Shopify, so the row
    exists before any webhook can name it. A duplicate pending charge (a create retried
    after a lost answer) is harmless: never approved, Shopify expires it after two days.
    """
    pack = find_pack(code)
    return_url = gateway.return_url(shop, "billing.purchase_return")
    created = gateway.call(
        shop,
        lambda client, token: api.create_one_time(
            client, shop.shop_domain, token, pack.name, pack.price_cents, pack.currency,
            return_url, gateway.test_charges(),
        ),
    )  # fmt: skip
    db.session.add(
        BillingPurchase(
            shop_id=shop.id,
            kind=PurchaseKind.PACK.value,
            shopify_id=created.shopify_id,
            idempotency_key=created.shopify_id,
            pack_code=pack.code,
            name=pack.name,
            credits=pack.credits,
            price_cents=pack.price_cents,
            currency=pack.currency,
            status=PurchaseStatus.PENDING.value,
            test=gateway.test_charges(),
        )
    )
    db.session.flush()
    return created.confirmation_url


def _owned(shop: Shop, gid: str, lock: bool = False) -> BillingPurchase | None:
    query = select(BillingPurchase).filter_by(
        shop_id=shop.id, shopify_id=gid, kind=PurchaseKind.PACK.value
    )
    if lock:  # PostgreSQL: the return page and a webhook settle one after the other
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.execute(query).scalar_one_or_none()


def gid_from_charge_id(charge_id: str | None) -> str:
    if not charge_id or not _CHARGE_ID.fullmatch(charge_id):
        raise ValidationFailed({"charge_id": "This link does not name a purchase."})
    return PURCHASE_GID + charge_id


def verify_return(shop: Shop, charge_id: str | None) -> BillingPurchase:
    """The merchant is back from Shopify: ask Shopify what became of the charge.

    The charge_id only says which of this shop's purchases to look at: a forged one, or
    another shop's, names no purchase of ours and is a 404 without any call to Shopify.
    """
    purchase = _owned(shop, gid_from_charge_id(charge_id))
    if purchase is None:
        raise NotFound("We have no record of this purchase for your shop.")
    return verify(shop, purchase)


def verify(shop: Shop, purchase: BillingPurchase) -> BillingPurchase:
    """Read the purchase back from Shopify and settle it (grants at most once)."""
    if purchase.status in FINAL:
        return purchase
    gid = purchase.shopify_id
    remote = gateway.call(
        shop, lambda client, token: api.find_one_time(client, shop.shop_domain, token, gid)
    )
    if remote is None:
        log.warning("purchase %s not at Shopify for %s", gid, shop.shop_domain)
        return purchase
    purchase = _owned(shop, gid, lock=True)  # re-read under the lock, then decide
    settle(shop, purchase, remote)
    return purchase


def settle(shop: Shop, purchase: BillingPurchase, remote: api.RemotePurchase) -> None:
    """Apply Shopify's verified status; grant on ACTIVE, keyed by the purchase's GID."""
    if purchase.status in FINAL or remote.status not in _FINAL:
        return  # settled before; or still PENDING at Shopify: nothing changes
    if (remote.price_cents, remote.currency) != (purchase.price_cents, purchase.currency):
        purchase.status, purchase.error = PurchaseStatus.FAILED.value, "price differs at Shopify"
        log.error("purchase %s price differs at Shopify; not granted", purchase.shopify_id)
        return
    purchase.status = remote.status.lower()
    if remote.status == "ACTIVE":
        credits.grant(shop.id, purchase.credits, purchase.shopify_id, f"Pack: {purchase.name}")
    db.session.flush()


def on_webhook(shop: Shop, gid: str) -> None:
    """app_purchases_one_time/update: verify again, whatever the payload claims."""
    purchase = _owned(shop, gid)
    if purchase is None:
        log.info("one-time purchase %s unknown for %s: ignored", gid, shop.shop_domain)
        return
    if not shop.is_active:  # no token to ask with: the sweep verifies it after a reinstall
        log.info("purchase %s update for uninstalled %s: later", gid, shop.shop_domain)
        return
    verify(shop, purchase)


def stale_pending(older_than: timedelta, limit: int = 200) -> list[int]:
    """Pending packs whose webhook may have been lost: the sweeper asks Shopify again."""
    query = (
        select(BillingPurchase.id)
        .where(
            BillingPurchase.status == PurchaseStatus.PENDING.value,
            BillingPurchase.kind == PurchaseKind.PACK.value,
            BillingPurchase.created_at < now_utc() - older_than,
        )
        .order_by(BillingPurchase.created_at)
        .limit(limit)
    )
    return list(db.session.execute(query).scalars())


def reconcile(purchase_id: int) -> None:
    """Verify one pending pack; Shopify expires unapproved ones after two days. A purchase
    Shopify no longer lists at all after a week is marked expired here."""
    purchase = db.session.get(BillingPurchase, purchase_id)
    shop = db.session.get(Shop, purchase.shop_id) if purchase else None
    if purchase is None or shop is None or not shop.is_active:
        return
    verify(shop, purchase)
    if purchase.status == PurchaseStatus.PENDING.value and purchase.created_at < now_utc() - (
        GIVE_UP
    ):
        purchase.status, purchase.error = PurchaseStatus.EXPIRED.value, "not found at Shopify"
