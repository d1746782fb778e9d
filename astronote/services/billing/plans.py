"""The plan: a 30-day recurring price that includes credits, plus a capped usage line item.

Included credits are granted once per billing period: the ledger key names the
subscription and the end of the period Shopify reports, so app_subscriptions/update,
the return page and the period-end sweeper can all try, and only the first one grants.
"""

from __future__ import annotations

import logging
import re

from flask import current_app
from sqlalchemy import select

from astronote.errors import AstronoteError, NotFound, ValidationFailed
from astronote.extensions import db
from astronote.integrations.shopify import billing as api
from astronote.models import BillingSubscription, Shop, now_utc
from astronote.services import credits
from astronote.services.billing import gateway

log = logging.getLogger("astronote.billing")
SUBSCRIPTION_GID = "gid://shopify/AppSubscription/"
_CHARGE_ID = re.compile(r"[0-9]{1,20}")
NOT_ACTIVE = {"DECLINED", "CANCELLED", "EXPIRED", "FROZEN"}


class AlreadySubscribed(AstronoteError):
    status = 409


def current(shop_id: int) -> BillingSubscription | None:
    """The shop's newest plan that is active or still waiting for approval."""
    query = (
        select(BillingSubscription)
        .where(
            BillingSubscription.shop_id == shop_id,
            BillingSubscription.status.in_(("active", "pending", "frozen")),
        )
        .order_by(BillingSubscription.id.desc())
        .limit(1)
    )
    return db.session.execute(query).scalar_one_or_none()


def subscribe(shop: Shop, return_url: str) -> str:
    """appSubscriptionCreate; returns the confirmation URL."""
    existing = current(shop.id)
    if existing is not None and existing.status == "active":
        raise AlreadySubscribed("This shop is already on the plan.")
    cfg = current_app.config
    cur, test = gateway.currency(), gateway.test_charges()
    terms = f"{cfg['BILLING_TOPUP_CREDITS']:,} credits per top-up, only when you turn it on"
    created = gateway.call(
        shop,
        lambda client, token: api.create_subscription(
            client, shop.shop_domain, token, name=cfg["BILLING_PLAN_NAME"],
            price_cents=cfg["BILLING_PLAN_PRICE_CENTS"], cap_cents=cfg["BILLING_USAGE_CAP_CENTS"],
            currency=cur, terms=terms, return_url=return_url, test=test,
        ),
    )  # fmt: skip
    db.session.add(
        BillingSubscription(
            shop_id=shop.id,
            shopify_id=created.shopify_id,
            name=cfg["BILLING_PLAN_NAME"],
            status="pending",
            included_credits=cfg["BILLING_PLAN_CREDITS"],
            price_cents=cfg["BILLING_PLAN_PRICE_CENTS"],
            capped_cents=cfg["BILLING_USAGE_CAP_CENTS"],
            currency=cur,
            test=test,
        )
    )
    db.session.flush()
    return created.confirmation_url


def _owned(shop: Shop, gid: str) -> BillingSubscription | None:
    query = select(BillingSubscription).filter_by(shop_id=shop.id, shopify_id=gid)
    return db.session.execute(query).scalar_one_or_none()


def verify_return(shop: Shop, charge_id: str | None) -> BillingSubscription:
    if not charge_id or not _CHARGE_ID.fullmatch(charge_id):
        raise ValidationFailed({"charge_id": "This link does not name a subscription."})
    subscription = _owned(shop, SUBSCRIPTION_GID + charge_id)
    if subscription is None:
        raise NotFound("We have no record of this subscription.")
    sync(shop, subscription)
    return subscription


def sync(shop: Shop, subscription: BillingSubscription, claimed: str | None = None) -> None:
    """Ask Shopify; an active plan gets this period's credits (once).

    `claimed` is a webhook's status: trusted only to mark a plan not active (which grants
    nothing); activation is always read back from Shopify.
    """
    remote = gateway.call(
        shop, lambda client, token: api.active_subscriptions(client, shop.shop_domain, token)
    )
    found = next((r for r in remote if r.shopify_id == subscription.shopify_id), None)
    if found is not None and found.status == "ACTIVE":
        _activate(shop, subscription, found)
    elif found is None and (claimed in NOT_ACTIVE or subscription.status == "active"):
        # Not among the active ones any more: Shopify cancelled or froze it.
        subscription.status = (claimed or "cancelled").lower()
    db.session.flush()


def _activate(shop: Shop, subscription: BillingSubscription, remote: api.RemoteSubscription):
    subscription.status = "active"
    subscription.usage_line_item_id = remote.usage_line_item_id
    subscription.capped_cents = remote.capped_cents or subscription.capped_cents
    subscription.balance_used_cents = remote.balance_used_cents
    subscription.current_period_end = remote.current_period_end
    if remote.current_period_end is None:
        return
    period = remote.current_period_end.strftime("%Y%m%dT%H%M%SZ")
    key = f"plan:{subscription.shopify_id}:{period}"
    note = f"Plan: {subscription.name}, period ending {remote.current_period_end:%Y-%m-%d}"
    credits.grant(shop.id, subscription.included_credits, key, note)


def on_update(shop: Shop, gid: str, claimed: str | None) -> None:
    subscription = _owned(shop, gid)
    if subscription is None:
        log.info("subscription %s unknown for %s: ignored", gid, shop.shop_domain)
        return
    sync(shop, subscription, claimed)


def on_approaching_cap(shop: Shop, gid: str, used_cents: int | None, cap_cents: int | None):
    """Shopify says 90% of the cap is used: remember it, so the page can say so."""
    subscription = _owned(shop, gid)
    if subscription is None:
        return
    subscription.approaching_cap_at = now_utc()
    if used_cents is not None:
        subscription.balance_used_cents = used_cents
    if cap_cents:
        subscription.capped_cents = cap_cents
    db.session.flush()


def due_for_renewal(limit: int = 200) -> list[int]:
    """Active plans whose period has ended: the sweeper asks Shopify for the next one."""
    query = (
        select(BillingSubscription.id)
        .where(
            BillingSubscription.status == "active",
            BillingSubscription.current_period_end <= now_utc(),
        )
        .order_by(BillingSubscription.current_period_end)
        .limit(limit)
    )
    return list(db.session.execute(query).scalars())


def renew(subscription_id: int) -> None:
    subscription = db.session.get(BillingSubscription, subscription_id)
    shop = db.session.get(Shop, subscription.shop_id) if subscription else None
    if subscription is None or shop is None or not shop.is_active:
        return
    sync(shop, subscription)
