"""Credit packs: appPurchaseOneTimeCreate, verified through GraphQL, granted exactly once.

The purchase's GID is the ledger's idempotency key, so the return page, every webhook
redelivery and any race between them grant the pack's credits once between them. The
credits granted come from our own row, never from a request or a payload.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from astronote.errors import NotFound, ValidationFailed
from astronote.extensions import db
from astronote.integrations.shopify import billing as api
from astronote.models import BillingPurchase, PurchaseKind, PurchaseStatus, Shop
from astronote.services import credits
from astronote.services.billing import gateway

log = logging.getLogger("astronote.billing")
PURCHASE_GID = "gid://shopify/AppPurchaseOneTime/"
_CHARGE_ID = re.compile(r"[0-9]{1,20}")
_FINAL = {"ACTIVE", "DECLINED", "EXPIRED"}


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


def buy(shop: Shop, code: str, return_url: str) -> str:
    """Create the charge at Shopify, record it pending; return the confirmation URL.

    A duplicate pending charge (a retried create) is harmless: never approved, it expires.
    """
    pack = find_pack(code)
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


def _owned(shop: Shop, gid: str) -> BillingPurchase | None:
    query = select(BillingPurchase).filter_by(
        shop_id=shop.id, shopify_id=gid, kind=PurchaseKind.PACK.value
    )
    return db.session.execute(query).scalar_one_or_none()


def gid_from_charge_id(charge_id: str | None) -> str:
    if not charge_id or not _CHARGE_ID.fullmatch(charge_id):
        raise ValidationFailed({"charge_id": "This link does not name a purchase."})
    return PURCHASE_GID + charge_id


def verify_return(shop: Shop, charge_id: str | None) -> BillingPurchase:
    """The merchant is back from Shopify: ask Shopify what became of the charge."""
    gid = gid_from_charge_id(charge_id)
    purchase = _owned(shop, gid)
    if purchase is None:  # forged, another shop's, or never ours: say nothing more
        raise NotFound("We have no record of this purchase.")
    return verify(shop, purchase)


def verify(shop: Shop, purchase: BillingPurchase) -> BillingPurchase:
    remote = gateway.call(
        shop, lambda client, token: api.one_time_purchases(client, shop.shop_domain, token)
    )
    found = next((r for r in remote if r.shopify_id == purchase.shopify_id), None)
    if found is None:
        log.warning("purchase %s not at Shopify for %s", purchase.shopify_id, shop.shop_domain)
        return purchase
    settle(shop, purchase, found)
    return purchase


def settle(shop: Shop, purchase: BillingPurchase, remote: api.RemotePurchase) -> None:
    """Apply Shopify's verified status; grant on ACTIVE (idempotent on the purchase GID)."""
    if purchase.status == PurchaseStatus.ACTIVE.value or remote.status not in _FINAL:
        return  # ACTIVE is final here; PENDING changes nothing
    if (remote.price_cents, remote.currency) != (purchase.price_cents, purchase.currency):
        purchase.status, purchase.error = PurchaseStatus.FAILED.value, "price mismatch"
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
    verify(shop, purchase)
