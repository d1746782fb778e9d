"""Shopify code discounts (GraphQL Admin 2026-10): list them for the composer's picker,
create one basic discount per campaign, add its unique codes 250 at a time, and poll
each bulk creation. No database. Mutation userErrors raise `AdminApiUserErrors`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from astronote.integrations.shopify.admin_api import AdminApiClient, raise_for_user_errors

BULK_LIMIT = 250  # discountRedeemCodeBulkAdd takes at most 250 codes a call
TAKEN = "TAKEN"  # a code that already exists (an earlier attempt created it)

CODE_DISCOUNTS = """
query CodeDiscounts($first: Int!, $after: String, $query: String) {
  codeDiscountNodes(first: $first, after: $after, query: $query, sortKey: TITLE) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      codeDiscount {
        __typename
        ... on DiscountCodeBasic { title status endsAt codes(first: 1) { nodes { code } } }
        ... on DiscountCodeBxgy { title status endsAt codes(first: 1) { nodes { code } } }
        ... on DiscountCodeFreeShipping { title status endsAt codes(first: 1) { nodes { code } } }
      }
    }
  }
}
"""

BASIC_CREATE = """
mutation DiscountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}
"""

NODE_BY_CODE = """
query DiscountByCode($code: String!) {
  codeDiscountNodeByCode(code: $code) { id }
}
"""

BULK_ADD = """
mutation DiscountRedeemCodeBulkAdd($discountId: ID!, $codes: [DiscountRedeemCodeInput!]!) {
  discountRedeemCodeBulkAdd(discountId: $discountId, codes: $codes) {
    bulkCreation { id }
    userErrors { field code message }
  }
}
"""

BULK_CREATION = """
query DiscountRedeemCodeBulkCreation($id: ID!) {
  discountRedeemCodeBulkCreation(id: $id) {
    id done codesCount importedCount failedCount
    codes(first: 250) { nodes { code errors { code message } } }
  }
}
"""


@dataclass
class CodeDiscount:
    gid: str
    title: str
    code: str | None
    status: str
    ends_at: str | None


@dataclass
class BulkCreation:
    gid: str
    done: bool
    codes: int
    imported: int
    failed: int
    errors: dict[str, str]  # code -> error code, for the codes that failed


def code_discounts(
    client: AdminApiClient, shop: str, token: str, search: str | None, after: str | None
) -> tuple[list[CodeDiscount], str | None]:
    """One page of the shop's code discounts, by title; `search` matches title or code."""
    variables = {"first": 25, "after": after, "query": search or None}
    page = client.execute(shop, token, CODE_DISCOUNTS, variables)["codeDiscountNodes"]
    found = []
    for node in page["nodes"]:
        discount = node.get("codeDiscount") or {}
        codes = (discount.get("codes") or {}).get("nodes") or []
        found.append(
            CodeDiscount(
                node["id"],
                discount.get("title") or "",
                codes[0]["code"] if codes else None,
                discount.get("status") or "",
                discount.get("endsAt"),
            )
        )
    info = page["pageInfo"]
    return found, info["endCursor"] if info["hasNextPage"] else None


def basic_input(title: str, code: str, kind: str, value: int, starts: datetime, ends: datetime):
    """DiscountCodeBasicInput: everyone, every item, each code once, `value` percent or
    minor units of the shop's currency."""
    if kind == "percentage":
        gets_value = {"percentage": value / 100}
    else:
        amount = f"{value // 100}.{value % 100:02d}"
        gets_value = {"discountAmount": {"amount": amount, "appliesOnEachItem": False}}
    return {
        "title": title,
        "code": code,
        "startsAt": starts.isoformat(),
        "endsAt": ends.isoformat(),
        "context": {"all": "ALL"},
        "customerGets": {"value": gets_value, "items": {"all": True}},
        "usageLimit": None,
        "appliesOncePerCustomer": True,
    }


def create_basic(client: AdminApiClient, shop: str, token: str, basic: dict) -> str:
    """Create the campaign's discount; returns its DiscountCodeNode id. If its code is
    taken (an earlier attempt created it before a crash), return that discount."""
    data = client.execute(shop, token, BASIC_CREATE, {"basicCodeDiscount": basic})
    payload = data.get("discountCodeBasicCreate")
    errors = (payload or {}).get("userErrors") or []
    if errors and all(e.get("code") == TAKEN for e in errors):
        found = client.execute(shop, token, NODE_BY_CODE, {"code": basic["code"]})
        if node := found.get("codeDiscountNodeByCode"):
            return node["id"]
    return raise_for_user_errors(payload)["codeDiscountNode"]["id"]


def bulk_add(client: AdminApiClient, shop: str, token: str, discount_gid: str, codes) -> str:
    """Queue up to 250 codes on the discount; returns the bulk creation's id."""
    if not 0 < len(codes) <= BULK_LIMIT:
        raise ValueError(f"between 1 and {BULK_LIMIT} codes per call")
    variables = {"discountId": discount_gid, "codes": [{"code": c} for c in codes]}
    data = client.execute(shop, token, BULK_ADD, variables)
    return raise_for_user_errors(data.get("discountRedeemCodeBulkAdd"))["bulkCreation"]["id"]


def bulk_creation(client: AdminApiClient, shop: str, token: str, gid: str) -> BulkCreation:
    node = client.execute(shop, token, BULK_CREATION, {"id": gid})["discountRedeemCodeBulkCreation"]
    errors = {}
    for row in (node.get("codes") or {}).get("nodes") or []:
        if row.get("errors"):
            errors[row["code"]] = row["errors"][0].get("code") or row["errors"][0].get("message")
    return BulkCreation(
        node["id"],
        bool(node["done"]),
        int(node.get("codesCount") or 0),
        int(node.get("importedCount") or 0),
        int(node.get("failedCount") or 0),
        errors,
    )
