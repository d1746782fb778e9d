"""The credits page: balance, packs and the plan (charged through Shopify), purchase
history, the ledger (keyset pages, CSV) and the low-balance threshold; the two pages
Shopify sends the merchant back to; the low-balance banner every page shows.

The return pages are GET requests that write: Shopify redirects there. What they write
is idempotent (the charge is read back from Shopify, its credits keyed by its id), so a
reload or a forged `charge_id` changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, current_app, g, redirect, request
from sqlalchemy.exc import SQLAlchemyError

from astronote.auth import load_shop
from astronote.errors import ValidationFailed
from astronote.extensions import db, htmx
from astronote.htmx import render
from astronote.integrations.shopify.admin_api import AdminApiError
from astronote.services import credits
from astronote.services.billing import account, packs, plans, pricing, topups
from astronote.services.shopify.tokens import ShopNotConnected
from astronote.tasks import enqueue_safely
from astronote.tasks.billing import charge_topup
from astronote.views.paging import after_cursor
from astronote.views.streaming import csv_download
from astronote.views.unit_of_work import unit_of_work

bp = Blueprint("billing", __name__, url_prefix="/billing")
bp.before_request(load_shop)
log = logging.getLogger("astronote.billing")
SHOPIFY_DOWN = "Shopify did not answer. Nothing was charged; try again in a moment."


@bp.app_context_processor
def _low_balance_banner():
    def credits_low():
        """(available, threshold) for the signed-in shop when below its threshold."""
        shop = g.get("shop")
        if shop is None:
            return None
        try:
            return account.low_balance(shop.id)
        except SQLAlchemyError:  # an error page must still render
            db.session.rollback()
            return None

    return {"credits_low": credits_low}


def _page(status: int = 200, ledger_only: bool = False, **extra):
    """The credits page; htmx ledger paging gets only the ledger (`ledger_only`)."""
    shop = g.shop
    kind = account.parse_kind(request.args.get("kind"))
    after = after_cursor()
    context = {
        "balance": credits.balance(shop.id),
        "packs": packs.catalogue(),
        "plan": plans.current(shop.id),
        "plan_config": current_app.config,
        "purchases": account.purchases(shop.id, after_cursor("purchases_after"), limit=10),
        "ledger": account.ledger(shop.id, kind, after),
        "kind": kind,
        "kinds": account.KINDS,
        "after": after,
        "settings": account.settings_of(shop.id),
        "price_groups": pricing.grouped(),
        "default_price": pricing.per_segment(pricing.UNKNOWN),
        "errors": {},
        **extra,
    }
    context["near_cap"] = plans.near_cap(context["plan"])
    partial = "billing/_ledger.html" if ledger_only else None
    return render("billing/index.html", partial=partial, status=status, **context)


@bp.get("/")
def index():
    return _page(ledger_only=True)


@bp.get("/ledger.csv")
def ledger_csv():
    kind = account.parse_kind(request.args.get("kind"))
    return csv_download(account.ledger_csv(g.shop.id, kind), "credit-ledger.csv")


def _to_shopify(url: str):
    """Send the merchant to Shopify's confirmation page, out of the admin's frame."""
    if htmx:
        return render("billing/_continue.html", confirmation_url=url)
    return redirect(url, 303)


def _charge(create: Callable[[], str], what: str):
    """Create a charge at Shopify (committed with its row), then send the merchant there."""
    try:
        with unit_of_work():
            url = create()
    except (AdminApiError, ShopNotConnected) as exc:
        log.warning("%s for %s failed: %s", what, g.shop.shop_domain, exc)
        return _page(502, notice=("critical", SHOPIFY_DOWN))
    return _to_shopify(url)


def _came_back(verify: Callable, result: str):
    """Shopify sent the merchant back: read the charge from Shopify, show what became of it."""
    try:
        with unit_of_work():
            charge = verify(g.shop, request.args.get("charge_id"))
    except (AdminApiError, ShopNotConnected):
        return _page(502, notice=("critical", "Shopify did not answer; we will check again."))
    return _page(**{result: charge})


@bp.post("/packs/<code>")
def buy_pack(code: str):
    return _charge(lambda: packs.buy(g.shop, code), "pack purchase")


@bp.get("/return")
def purchase_return():
    return _came_back(packs.verify_return, "returned")


@bp.post("/plan")
def subscribe():
    return _charge(lambda: plans.subscribe(g.shop), "plan subscription")


@bp.get("/plan/return")
def plan_return():
    return _came_back(plans.verify_return, "returned_plan")


@bp.post("/plan/cancel")
def cancel_plan():
    if request.form.get("confirm") != "yes":
        return _page(422, notice=("critical", "Tick the box to confirm the cancellation."))
    try:
        with unit_of_work():
            plans.cancel(g.shop)
    except (AdminApiError, ShopNotConnected) as exc:
        log.warning("plan cancellation for %s failed: %s", g.shop.shop_domain, exc)
        return _page(502, notice=("critical", "Shopify did not answer; the plan is unchanged."))
    return _page(notice=("success", "Plan cancelled. Credits you have stay yours."))


@bp.post("/topup")
def top_up():
    try:
        with unit_of_work():
            row = topups.prepare(g.shop, by_merchant=True)
    except topups.TopUpUnavailable as exc:
        return _page(409, notice=("critical", exc.message))
    enqueue_safely(charge_topup, row.id)  # after the commit: the row and its key exist
    db.session.expire_all()
    notice = {
        "active": ("success", f"{row.credits:,} credits added."),
        "capped": ("critical", "Shopify refused the top-up: it would pass your usage cap."),
        "failed": ("critical", "Shopify refused the top-up."),
    }.get(db.session.get(type(row), row.id).status, ("info", "Top-up requested."))
    return _page(notice=notice)


@bp.post("/settings")
def update_settings():
    try:
        with unit_of_work():
            account.update_settings(g.shop.id, request.form)
    except ValidationFailed as exc:
        return _page(422, errors=exc.field_errors)
    return _page(notice=("success", "Saved."))
