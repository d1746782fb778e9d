"""The composer's picker: one page of the shop's Shopify code discounts, searchable by
title or code, through the shop's own token (the demo shop's: the simulator)."""

from __future__ import annotations

from astronote.integrations.shopify import discounts as api
from astronote.integrations.shopify.admin_api import AdminApiError, AdminApiUnauthorized
from astronote.models import Shop
from astronote.services.discounts.prepare import call
from astronote.services.shopify.tokens import ShopNotConnected

MAX_SEARCH = 100


def page(shop: Shop, search: str | None, after: str | None) -> dict:
    """{"discounts", "next", "search", "error"}: never raises on a Shopify problem."""
    search = " ".join((search or "").split())[:MAX_SEARCH] or None
    after = (after or "").strip()[:200] or None
    result = {"discounts": [], "next": None, "search": search or "", "error": None}
    try:
        found, cursor = call(
            shop,
            lambda client, token: api.code_discounts(
                client, shop.shop_domain, token, search, after
            ),
        )
    except (AdminApiUnauthorized, ShopNotConnected):
        result["error"] = "Shopify did not accept the app's access; open the app again."
        return result
    except AdminApiError:
        result["error"] = "Shopify's discounts could not be loaded just now. Try again."
        return result
    result["discounts"] = [d for d in found if d.code]
    result["next"] = cursor
    return result
