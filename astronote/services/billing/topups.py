"""Usage top-ups: charge the plan's capped usage line item and grant the credits.

A top-up is a row first (committed by the caller), then one appUsageRecordCreate carrying
the row's idempotency key: a retry after a timeout or a crash sends the same key, and
Shopify answers with the same record instead of charging again. The same key is the
ledger's, so the credits are granted once too. Over the cap, Shopify answers "Total
price exceeds balance remaining": the row is marked `capped` and nothing is granted.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from astronote.errors import AstronoteError
from astronote.extensions import db
from astronote.integrations.shopify import billing as api
from astronote.integrations.shopify.admin_api import AdminApiUserErrors
from astronote.models import (
    BillingPurchase,
    BillingSettings,
    BillingSubscription,
    PurchaseKind,
    PurchaseStatus,
    Shop,
    now_utc,
)
from astronote.services import credits
from astronote.services.billing import gateway, plans

log = logging.getLogger("astronote.billing")
PERIOD = timedelta(days=30)


class TopUpUnavailable(AstronoteError):
    status = 409


def _latest(shop_id: int, status: str) -> BillingPurchase | None:
    query = (
        select(BillingPurchase)
        .filter_by(shop_id=shop_id, kind=PurchaseKind.TOPUP.value, status=status)
        .order_by(BillingPurchase.id.desc())
        .limit(1)
    )
    return db.session.execute(query).scalar_one_or_none()


def _capped_this_period(shop_id: int, plan: BillingSubscription) -> bool:
    capped = _latest(shop_id, PurchaseStatus.CAPPED.value)
    if capped is None or plan.current_period_end is None:
        return False
    return capped.created_at > plan.current_period_end - PERIOD


def prepare(shop: Shop, *, by_merchant: bool = False) -> BillingPurchase | None:
    """A pending top-up row, or None when none is due. Flush only: commit before `charge`.

    The merchant's button skips the threshold and the switch, never the plan or the cap.
    A second pending top-up is refused by the database (one in flight per shop), so two
    workers that both see a low balance still charge once.
    """
    plan = plans.current(shop.id)
    if plan is None or plan.status != "active" or not plan.usage_line_item_id:
        if by_merchant:
            raise TopUpUnavailable("Top-ups need the plan: subscribe first.")
        return None
    if _latest(shop.id, PurchaseStatus.PENDING.value) is not None:
        if by_merchant:
            raise TopUpUnavailable("A top-up is already on its way.")
        return None  # the sweeper finishes it, with its own key
    if not by_merchant and (_capped_this_period(shop.id, plan) or not _wants_topup(shop.id)):
        return None  # the cap was hit this period, or nothing is needed
    cfg = current_app.config
    row = BillingPurchase(
        shop_id=shop.id,
        kind=PurchaseKind.TOPUP.value,
        idempotency_key=f"topup:{uuid.uuid4().hex}",
        name=f"Top-up of {cfg['BILLING_TOPUP_CREDITS']:,} credits",
        credits=cfg["BILLING_TOPUP_CREDITS"],
        price_cents=cfg["BILLING_TOPUP_PRICE_CENTS"],
        currency=plan.currency,
        status=PurchaseStatus.PENDING.value,
        test=plan.test,
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:  # a rival worker's pending top-up won: it is the one charged
        if by_merchant:
            raise TopUpUnavailable("A top-up is already on its way.") from None
        return None
    return row


def _wants_topup(shop_id: int) -> bool:
    settings = db.session.get(BillingSettings, shop_id)
    if settings is None or not settings.auto_topup:
        return False
    return credits.balance(shop_id).available < settings.low_balance_threshold


def charge(purchase_id: int) -> str:
    """Charge a pending top-up (safe to repeat: same key, one charge); returns its status.

    Flush only. Over the cap Shopify answers "Total price exceeds balance remaining":
    the row is `capped`, nothing is granted. A network failure leaves it pending for the
    sweeper, which sends the same idempotency key again.
    """
    row = db.session.get(BillingPurchase, purchase_id)
    if row is None or row.status != PurchaseStatus.PENDING.value:
        return row.status if row else "missing"
    shop = db.session.get(Shop, row.shop_id)
    plan = plans.current(row.shop_id)
    if shop is None or not shop.is_active or plan is None or not plan.usage_line_item_id:
        row.status, row.error = PurchaseStatus.FAILED.value, "no active plan"
        return row.status
    line_item = plan.usage_line_item_id
    try:
        record_id = gateway.call(
            shop,
            lambda client, token: api.create_usage_record(
                client, shop.shop_domain, token, line_item, row.price_cents,
                row.currency, row.name, row.idempotency_key,
            ),
        )  # fmt: skip
    except AdminApiUserErrors as exc:
        capped = api.CAP_EXCEEDED.lower() in str(exc).lower()
        row.status = (PurchaseStatus.CAPPED if capped else PurchaseStatus.FAILED).value
        row.error = str(exc)[:255]
        log.info("top-up %s for %s refused: %s", row.id, shop.shop_domain, exc)
        return row.status
    row.shopify_id, row.status = record_id, PurchaseStatus.ACTIVE.value
    plan.balance_used_cents += row.price_cents
    credits.grant(row.shop_id, row.credits, row.idempotency_key, row.name)
    db.session.flush()
    return row.status


def due_shop_ids(limit: int = 500) -> list[int]:
    """Shops with auto top-up on (the balance test is per shop, in `prepare`)."""
    query = (
        select(BillingSettings.shop_id)
        .join(Shop, Shop.id == BillingSettings.shop_id)
        .where(BillingSettings.auto_topup.is_(True), Shop.is_active.is_(True))
        .order_by(BillingSettings.shop_id)
        .limit(limit)
    )
    return list(db.session.execute(query).scalars())


def stuck_ids(older_than: timedelta = timedelta(minutes=2)) -> list[int]:
    """Pending top-ups whose task was lost: charged again with their own key."""
    query = select(BillingPurchase.id).where(
        BillingPurchase.kind == PurchaseKind.TOPUP.value,
        BillingPurchase.status == PurchaseStatus.PENDING.value,
        BillingPurchase.created_at < now_utc() - older_than,
    )
    return list(db.session.execute(query.limit(200)).scalars())
