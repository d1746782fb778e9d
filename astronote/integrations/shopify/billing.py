"""Shopify Billing API (GraphQL Admin 2026-10): packs, the plan, usage records. No database.

Amounts cross this boundary as integer cents and leave as decimal strings, so no float
ever prices anything. Mutation userErrors raise `AdminApiUserErrors` (admin_api).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from astronote.integrations.shopify.admin_api import AdminApiClient, raise_for_user_errors

CAP_EXCEEDED = "Total price exceeds balance remaining"

PURCHASE_ONE_TIME_CREATE = """
mutation AppPurchaseOneTimeCreate(
  $name: String!, $price: MoneyInput!, $returnUrl: URL!, $test: Boolean
) {
  appPurchaseOneTimeCreate(name: $name, price: $price, returnUrl: $returnUrl, test: $test) {
    appPurchaseOneTime { id name status test createdAt price { amount currencyCode } }
    confirmationUrl
    userErrors { field message }
  }
}
"""

SUBSCRIPTION_CREATE = """
mutation AppSubscriptionCreate(
  $name: String!, $returnUrl: URL!, $test: Boolean,
  $lineItems: [AppSubscriptionLineItemInput!]!
) {
  appSubscriptionCreate(name: $name, returnUrl: $returnUrl, test: $test, lineItems: $lineItems) {
    appSubscription { id name status test lineItems { id plan { pricingDetails { __typename } } } }
    confirmationUrl
    userErrors { field message }
  }
}
"""

USAGE_RECORD_CREATE = """
mutation AppUsageRecordCreate(
  $subscriptionLineItemId: ID!, $price: MoneyInput!, $description: String!,
  $idempotencyKey: String
) {
  appUsageRecordCreate(
    subscriptionLineItemId: $subscriptionLineItemId, price: $price,
    description: $description, idempotencyKey: $idempotencyKey
  ) {
    appUsageRecord { id idempotencyKey price { amount currencyCode } }
    userErrors { field message }
  }
}
"""

SUBSCRIPTION_CANCEL = """
mutation AppSubscriptionCancel($id: ID!, $prorate: Boolean) {
  appSubscriptionCancel(id: $id, prorate: $prorate) {
    appSubscription { id status }
    userErrors { field message }
  }
}
"""

ONE_TIME_PURCHASES = """
query OneTimePurchases($first: Int!, $after: String) {
  currentAppInstallation {
    oneTimePurchases(first: $first, after: $after, sortKey: CREATED_AT, reverse: true) {
      nodes { id name status test createdAt price { amount currencyCode } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

ALL_SUBSCRIPTIONS = """
query AllSubscriptions($first: Int!, $after: String) {
  currentAppInstallation {
    allSubscriptions(first: $first, after: $after, sortKey: CREATED_AT, reverse: true) {
      nodes {
        id name status test currentPeriodEnd
        lineItems {
          id
          plan {
            pricingDetails {
              __typename
              ... on AppRecurringPricing { price { amount currencyCode } interval }
              ... on AppUsagePricing {
                cappedAmount { amount currencyCode } balanceUsed { amount currencyCode } terms
              }
            }
          }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

PAGE_SIZE = 50
MAX_PAGES = 20  # 1,000 charges back: anything older was settled long ago


def money(cents: int, currency: str) -> dict:
    return {"amount": f"{cents // 100}.{cents % 100:02d}", "currencyCode": currency}


def cents(amount) -> int:
    """ "10.0", "10.00" or 10 as cents; Shopify serialises Decimal as a string."""
    whole, _, frac = str(amount).partition(".")
    return int(whole) * 100 + int((frac or "0")[:2].ljust(2, "0"))


def parse_time(value) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # no offset: UTC


@dataclass(frozen=True)
class Created:
    shopify_id: str
    confirmation_url: str


@dataclass(frozen=True)
class RemotePurchase:
    shopify_id: str
    name: str
    status: str  # ACTIVE, DECLINED, EXPIRED, PENDING
    test: bool
    price_cents: int
    currency: str


@dataclass(frozen=True)
class RemoteSubscription:
    shopify_id: str
    name: str
    status: str
    test: bool
    current_period_end: datetime | None
    usage_line_item_id: str | None
    capped_cents: int
    balance_used_cents: int


def create_one_time(
    client: AdminApiClient, shop: str, token: str, name, price_cents, currency, return_url, test
) -> Created:
    variables = {
        "name": name,
        "price": money(price_cents, currency),
        "returnUrl": return_url,
        "test": test,
    }
    data = client.execute(shop, token, PURCHASE_ONE_TIME_CREATE, variables)
    payload = raise_for_user_errors(data.get("appPurchaseOneTimeCreate"))
    return Created(payload["appPurchaseOneTime"]["id"], payload["confirmationUrl"])


def create_subscription(
    client: AdminApiClient, shop: str, token: str, *, name, price_cents, cap_cents, currency,
    terms, return_url, test,
) -> Created:  # fmt: skip
    line_items = [
        {
            "plan": {
                "appRecurringPricingDetails": {
                    "price": money(price_cents, currency),
                    "interval": "EVERY_30_DAYS",
                }
            }
        },
        {
            "plan": {
                "appUsagePricingDetails": {
                    "cappedAmount": money(cap_cents, currency),
                    "terms": terms,
                }
            }
        },
    ]
    variables = {"name": name, "returnUrl": return_url, "test": test, "lineItems": line_items}
    data = client.execute(shop, token, SUBSCRIPTION_CREATE, variables)
    payload = raise_for_user_errors(data.get("appSubscriptionCreate"))
    return Created(payload["appSubscription"]["id"], payload["confirmationUrl"])


def create_usage_record(
    client: AdminApiClient, shop: str, token: str, line_item_id, price_cents, currency,
    description, idempotency_key,
) -> str:  # fmt: skip
    """Charge on the usage line item; the same key never charges twice (Shopify dedupes)."""
    variables = {
        "subscriptionLineItemId": line_item_id,
        "price": money(price_cents, currency),
        "description": description,
        "idempotencyKey": idempotency_key,
    }
    data = client.execute(shop, token, USAGE_RECORD_CREATE, variables)
    return raise_for_user_errors(data.get("appUsageRecordCreate"))["appUsageRecord"]["id"]


def cancel_subscription(client: AdminApiClient, shop: str, token: str, gid: str) -> str:
    """Cancel the plan now (no proration: its included credits were granted); its status."""
    data = client.execute(shop, token, SUBSCRIPTION_CANCEL, {"id": gid, "prorate": False})
    payload = raise_for_user_errors(data.get("appSubscriptionCancel"))
    return str((payload.get("appSubscription") or {}).get("status") or "").upper()


def _pages(client: AdminApiClient, shop: str, token: str, query: str, field: str):
    """The installation's charges, newest first, one page per request."""
    after = None
    for _ in range(MAX_PAGES):
        data = client.execute(shop, token, query, {"first": PAGE_SIZE, "after": after})
        connection = ((data.get("currentAppInstallation") or {}).get(field)) or {}
        yield from connection.get("nodes") or []
        info = connection.get("pageInfo") or {}
        if not info.get("hasNextPage") or not info.get("endCursor"):
            return
        after = info["endCursor"]


def _purchase(node: dict) -> RemotePurchase:
    price = node.get("price") or {}
    return RemotePurchase(
        node["id"],
        node.get("name") or "",
        str(node.get("status") or "").upper(),
        bool(node.get("test")),
        cents(price.get("amount", "0")),
        price.get("currencyCode") or "",
    )


def find_one_time(client: AdminApiClient, shop: str, token: str, gid: str) -> RemotePurchase | None:
    """This installation's one-time purchase with the GID, or None. Only the calling app's
    charges on the token's shop are listed, so another shop's id is simply not found."""
    for node in _pages(client, shop, token, ONE_TIME_PURCHASES, "oneTimePurchases"):
        if node.get("id") == gid:
            return _purchase(node)
    return None


def find_subscription(
    client: AdminApiClient, shop: str, token: str, gid: str
) -> RemoteSubscription | None:
    """This installation's subscription with the GID, whatever its status, or None."""
    for node in _pages(client, shop, token, ALL_SUBSCRIPTIONS, "allSubscriptions"):
        if node.get("id") == gid:
            return _subscription(node)
    return None


def _subscription(node: dict) -> RemoteSubscription:
    usage_id, capped, used = None, 0, 0
    for item in node.get("lineItems") or []:
        details = ((item.get("plan") or {}).get("pricingDetails")) or {}
        if details.get("__typename") == "AppUsagePricing":
            usage_id = item.get("id")
            capped = cents((details.get("cappedAmount") or {}).get("amount", "0"))
            used = cents((details.get("balanceUsed") or {}).get("amount", "0"))
    return RemoteSubscription(
        node["id"],
        node.get("name") or "",
        str(node.get("status") or "").upper(),
        bool(node.get("test")),
        parse_time(node.get("currentPeriodEnd")),
        usage_id,
        capped,
        used,
    )
