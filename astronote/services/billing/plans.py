"""The plan: a 30-day recurring price that includes credits, plus a capped usage line item.

Included credits are granted once per billing period: the ledger key names the
subscription and the end of the period Shopify reports, so app_subscriptions/update,
the return page and the period-end sweeper can all try, and only the first one grants.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from astronote.errors import AstronoteError, NotFound, ValidationFailed
from astronote.extensions import db
from astronote.integrations.shopify import billing as api
from astronote.models import BillingSettings, BillingSubscription, Shop, now_utc
from astronote.services import credits
from astronote.services.billing import gateway

log = logging.getLogger("astronote.billing")
SUBSCRIPTION_GID = "gid://shopify/AppSubscription/"
_CHARGE_ID = re.compile(r"[0-9]{1,20}")
RECHECK = timedelta(minutes=10)
APPROVAL_WINDOW = timedelta(days=2)
NOT_ACTIVE = {"DECLINED", "CANCELLED", "EXPIRED", "FROZEN"}


class AlreadySubscribed(AstronoteError):
    status = 409


def current(shop_id: int) -> BillingSubscription | None:
    """The shop's newest plan that is active, frozen, or still waiting for approval
    (Shopify expires an unapproved one after two days; so do we, here)."""
    waiting = (BillingSubscription.status == "pending") & (
        BillingSubscription.created_at > now_utc() - APPROVAL_WINDOW
    )
    query = (
        select(BillingSubscription)
        .where(
            BillingSubscription.shop_id == shop_id,
            BillingSubscription.status.in_(("active", "frozen")) | waiting,
        )
        .order_by(BillingSubscription.id.desc())
        .limit(1)
    )
    return db.session.execute(query).scalar_one_or_none()


def subscribe(shop: Shop) -> str:
    """appSubscriptionCreate; returns the confirmation URL. Flush only (caller commits)."""
    existing = current(shop.id)
    if existing is not None and existing.status == "active":
        raise AlreadySubscribed("This shop is already on the plan.")
    cfg = current_app.config
    cur, test = gateway.currency(), gateway.test_charges()
    return_url = gateway.return_url(shop, "billing.plan_return")
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


def cancel(shop: Shop) -> BillingSubscription:
    """The merchant cancels the plan: Shopify stops billing it now (credits already granted
    stay), and automatic top-ups stop with it. Flush only."""
    plan = current(shop.id)
    if plan is None or plan.status not in ("active", "frozen"):
        raise NotFound("There is no plan to cancel.")
    gid = plan.shopify_id
    status = gateway.call(
        shop, lambda client, token: api.cancel_subscription(client, shop.shop_domain, token, gid)
    )
    plan.status = (status or "CANCELLED").lower()
    settings = db.session.get(BillingSettings, shop.id)
    if settings is not None:
        settings.auto_topup = False
    db.session.flush()
    return plan


def _owned(shop: Shop, gid: str, lock: bool = False) -> BillingSubscription | None:
    query = select(BillingSubscription).filter_by(shop_id=shop.id, shopify_id=gid)
    if lock:  # PostgreSQL: a webhook, the return page and the sweeper take turns
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.execute(query).scalar_one_or_none()


def verify_return(shop: Shop, charge_id: str | None) -> BillingSubscription:
    if not charge_id or not _CHARGE_ID.fullmatch(charge_id):
        raise ValidationFailed({"charge_id": "This link does not name a subscription."})
    subscription = _owned(shop, SUBSCRIPTION_GID + charge_id)
    if subscription is None:
        raise NotFound("We have no record of this subscription for your shop.")
    return sync(shop, subscription)


def sync(shop: Shop, subscription: BillingSubscription) -> BillingSubscription:
    """Read the plan back from Shopify and apply it; an active plan gets this period's
    included credits (once). Nothing a webhook or a URL says is trusted for a grant."""
    gid = subscription.shopify_id
    remote = gateway.call(
        shop, lambda client, token: api.find_subscription(client, shop.shop_domain, token, gid)
    )
    subscription = _owned(shop, gid, lock=True)
    if remote is None:
        log.warning("subscription %s not at Shopify for %s", gid, shop.shop_domain)
    elif remote.status == "ACTIVE":
        _activate(shop, subscription, remote)
    elif remote.status in NOT_ACTIVE | {"PENDING"}:
        subscription.status = remote.status.lower()
    db.session.flush()
    return subscription


def _activate(shop: Shop, subscription: BillingSubscription, remote: api.RemoteSubscription):
    subscription.status = "active"
    subscription.usage_line_item_id = remote.usage_line_item_id
    subscription.capped_cents = remote.capped_cents or subscription.capped_cents
    if remote.current_period_end != subscription.current_period_end:
        subscription.approaching_cap_at = None  # a new period: the usage balance restarts
    subscription.balance_used_cents = remote.balance_used_cents
    subscription.current_period_end = remote.current_period_end
    _replace_older(shop, subscription)
    if remote.current_period_end is None:
        return
    # One grant per period: keyed by the plan and the day its period ends, so every
    # path that sees the same period (webhook, return page, sweeper) grants it once.
    end = remote.current_period_end
    key = f"plan:{subscription.shopify_id}:{end:%Y-%m-%d}"
    note = f"Plan: {subscription.name}, period ending {end:%Y-%m-%d}"
    credits.grant(shop.id, subscription.included_credits, key, note)


def _replace_older(shop: Shop, subscription: BillingSubscription) -> None:
    """Shopify replaces an app's active plan when a new one is approved: mirror that."""
    db.session.execute(
        update(BillingSubscription)
        .where(
            BillingSubscription.shop_id == shop.id,
            BillingSubscription.id != subscription.id,
            BillingSubscription.status.in_(("active", "pending")),
        )
        .values(status="cancelled", updated_at=now_utc())
    )


def on_update(shop: Shop, gid: str, claimed: str | None = None) -> None:
    """app_subscriptions/update: read the plan back from Shopify. After an uninstall there
    is no token to ask with; then only a claim that the plan ended is taken (it grants
    nothing), and a reinstall has the sweeper ask Shopify (`due_for_renewal`)."""
    subscription = _owned(shop, gid)
    if subscription is None:
        log.info("subscription %s unknown for %s: ignored", gid, shop.shop_domain)
        return
    if not shop.is_active or (not shop.access_token_enc and not shop.is_demo):
        if claimed in NOT_ACTIVE:
            subscription.status = claimed.lower()
        return
    sync(shop, subscription)


def on_approaching_cap(shop: Shop, gid: str, used_cents: int | None, cap_cents: int | None):
    """Shopify says 90% of the cap is used: remember it, so the credits page says so."""
    subscription = _owned(shop, gid)
    if subscription is None:
        return
    subscription.approaching_cap_at = now_utc()
    if used_cents is not None and used_cents >= 0:
        subscription.balance_used_cents = used_cents
    if cap_cents and cap_cents > 0:
        subscription.capped_cents = cap_cents
    db.session.flush()


def near_cap(subscription: BillingSubscription | None) -> bool:
    """The page's warning: Shopify said 90% (this period), or our own count says so."""
    if subscription is None or subscription.status != "active" or not subscription.capped_cents:
        return False
    return subscription.approaching_cap_at is not None or (
        subscription.balance_used_cents * 10 >= subscription.capped_cents * 9
    )


def due_for_renewal(limit: int = 200) -> list[int]:
    """Active plans whose period has ended, or whose shop was reinstalled since we last
    heard of them (Shopify cancels plans on uninstall): the sweeper asks Shopify."""
    stale = (
        select(Shop.id)
        .where(
            Shop.id == BillingSubscription.shop_id,
            Shop.installed_at > BillingSubscription.updated_at,
        )
        .exists()
    )
    query = (
        select(BillingSubscription.id)
        .where(
            BillingSubscription.status == "active",
            # Not every minute: Shopify may take a while to roll the period forward.
            BillingSubscription.updated_at < now_utc() - RECHECK,
            or_(BillingSubscription.current_period_end <= now_utc(), stale),
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
    subscription = sync(shop, subscription)
    subscription.updated_at = now_utc()  # heard of it now, even if nothing changed
