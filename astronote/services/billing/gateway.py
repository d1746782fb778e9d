"""Which Admin API a shop's billing calls go to, with which token, and where Shopify sends
the merchant back after a charge.

Real shops use their offline token (refreshed on a 401). In development the demo shop has
no token and no real store, so when SHOPIFY_BILLING_SIM_URL is set (`make run` sets it) its
billing calls go to the billing simulator (devtools/billing_sim.py) instead; every other
shop is unaffected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import current_app, url_for

from astronote.integrations.shopify.admin_api import AdminApiClient
from astronote.models import Shop
from astronote.services.shopify import tokens as shop_tokens

T = TypeVar("T")
SIM_TOKEN = "shpat_billing_sim"  # the sim accepts any token; this one names itself in logs


def call(shop: Shop, fn: Callable[[AdminApiClient, str], T]) -> T:
    """Run `fn(client, token)` against the shop's Admin API (or the dev sim)."""
    sim = current_app.config.get("SHOPIFY_BILLING_SIM_URL")
    if shop.is_demo and sim:
        client = AdminApiClient(sim.rstrip("/") + "/{shop}", timeout=(2, 10), max_retries=1)
        return fn(client, SIM_TOKEN)
    return shop_tokens.with_admin_api(shop, fn)


def test_charges() -> bool:
    """`test: true` on every charge outside production."""
    return bool(current_app.config["BILLING_TEST"])


def currency() -> str:
    return current_app.config["BILLING_CURRENCY"]


def return_url(shop: Shop, endpoint: str) -> str:
    """Where Shopify sends the merchant after approving or declining (it adds `charge_id`).

    In production that is the app inside the admin, so App Bridge mints a session token
    for the return page; elsewhere the app itself (development sign-in, tests).
    """
    cfg = current_app.config
    path = url_for(endpoint)
    if cfg["ASTRONOTE_ENV"] == "production":
        store = shop.shop_domain.removesuffix(".myshopify.com")
        return f"https://admin.shopify.com/store/{store}/apps/{cfg['SHOPIFY_APP_HANDLE']}{path}"
    return url_for(endpoint, shop=shop.shop_domain, _external=True)
