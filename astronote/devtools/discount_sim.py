"""Shopify's code discounts as a simulator: the picker's `codeDiscountNodes`, one basic
discount per campaign, unique codes added 250 at a time and their bulk creations, polled.

The tests' fake Shopify and `make run`'s simulator (devtools/billing_sim_app.py) answer
discount queries through this one class. GraphQL is dispatched on the root field's name,
not parsed. Payloads follow API 2026-10. Tests script failures: `bulk_polls` (how many
polls a bulk creation stays queued; 0: it runs when added), `reject` (codes that fail
with INVALID), `fail_creates` (basic creates answering a userError).
"""

from __future__ import annotations

import base64
import copy
import itertools
import threading
from datetime import UTC, datetime

LIMIT = 250


def _error(message: str, code: str = "INVALID", field=None) -> dict:
    return {"field": field, "code": code, "message": message}


def _cursor(n: int) -> str:
    return base64.b64encode(f"discount:{n}".encode()).decode()


class DiscountSim:
    """Every shop's code discounts and bulk creations, guarded by one lock."""

    def __init__(self) -> None:
        self.discounts: dict[str, list[dict]] = {}  # shop -> discounts, in creation order
        self.bulk: dict[str, dict] = {}  # bulk creation gid -> state
        self.bulk_calls: list[int] = []  # codes per discountRedeemCodeBulkAdd call
        self.polls = 0
        self.bulk_polls = 1  # polls answering done: false before a creation runs
        self.reject: set[str] = set()
        self.fail_creates = 0
        self._ids = itertools.count(9001)
        self.lock = threading.RLock()

    # --- scripting and inspection -------------------------------------------------------------
    def seed(self, shop: str, title: str, code: str, status: str = "ACTIVE") -> dict:
        with self.lock:
            return copy.deepcopy(self._new(shop, title, [code], status=status))

    def codes(self, shop: str) -> dict[str, str]:
        """Every code of the shop -> its discount's id."""
        with self.lock:
            return {c: d["id"] for d in self.discounts.get(shop, []) for c in d["codes"]}

    def _new(self, shop: str, title: str, codes: list[str], **fields) -> dict:
        discount = {
            "id": f"gid://shopify/DiscountCodeNode/{next(self._ids)}",
            "title": title,
            "codes": list(codes),
            "status": "ACTIVE",
            "endsAt": None,
            **fields,
        }
        self.discounts.setdefault(shop, []).append(discount)
        return discount

    # --- GraphQL ------------------------------------------------------------------------------
    def resolve(self, shop: str, query: str, variables: dict) -> dict | None:
        """The `data` of a discount query or mutation, or None when it is not one."""
        with self.lock:
            if "discountRedeemCodeBulkAdd" in query:
                return {"discountRedeemCodeBulkAdd": self._bulk_add(shop, variables)}
            if "discountRedeemCodeBulkCreation" in query:
                return {"discountRedeemCodeBulkCreation": self._poll(shop, variables)}
            if "discountCodeBasicCreate" in query:
                return {"discountCodeBasicCreate": self._create(shop, variables)}
            if "codeDiscountNodeByCode" in query:
                found = self._by_code(shop, variables.get("code") or "")
                return {"codeDiscountNodeByCode": {"id": found["id"]} if found else None}
            if "codeDiscountNodes" in query:
                return {"codeDiscountNodes": self._page(shop, variables)}
        return None

    def _by_code(self, shop: str, code: str) -> dict | None:
        wanted = code.upper()
        for discount in self.discounts.get(shop, []):
            if wanted in (c.upper() for c in discount["codes"]):
                return discount
        return None

    def _page(self, shop: str, variables: dict) -> dict:
        first = int(variables.get("first") or 0)
        if not 0 < first <= LIMIT:
            raise ValueError("first must be between 1 and 250")
        search = (variables.get("query") or "").strip().lower()
        rows = sorted(self.discounts.get(shop, []), key=lambda d: d["title"].lower())
        if search:  # Shopify's default search: title or code, case-insensitive
            rows = [
                d
                for d in rows
                if search in d["title"].lower() or any(search in c.lower() for c in d["codes"])
            ]
        after = variables.get("after")
        start = int(base64.b64decode(after).decode().split(":")[1]) if after else 0
        page = rows[start : start + first]
        nodes = [
            {
                "id": d["id"],
                "codeDiscount": {
                    "__typename": "DiscountCodeBasic",
                    "title": d["title"],
                    "status": d["status"],
                    "endsAt": d["endsAt"],
                    "codes": {"nodes": [{"code": c} for c in d["codes"][:1]]},
                },
            }
            for d in page
        ]
        end = start + len(page)
        info = {"hasNextPage": end < len(rows), "endCursor": _cursor(end) if page else None}
        return {"nodes": nodes, "pageInfo": info}

    def _create(self, shop: str, variables: dict) -> dict:
        basic = variables.get("basicCodeDiscount") or {}
        code, title = basic.get("code") or "", basic.get("title") or ""
        if self.fail_creates > 0:
            self.fail_creates -= 1
            return {"codeDiscountNode": None, "userErrors": [_error("Simulated failure")]}
        if not code or not title or not basic.get("context"):
            return {"codeDiscountNode": None, "userErrors": [_error("code, title and context")]}
        if self._by_code(shop, code):
            error = _error("Code must be unique. Please try a different code.", "TAKEN", ["code"])
            return {"codeDiscountNode": None, "userErrors": [error]}
        gets = (basic.get("customerGets") or {}).get("value") or {}
        discount = self._new(
            shop, title, [code], endsAt=basic.get("endsAt"), value=copy.deepcopy(gets)
        )
        return {"codeDiscountNode": {"id": discount["id"]}, "userErrors": []}

    def _bulk_add(self, shop: str, variables: dict) -> dict:
        codes = [(c or {}).get("code") or "" for c in variables.get("codes") or []]
        discount = next(
            (d for d in self.discounts.get(shop, []) if d["id"] == variables.get("discountId")),
            None,
        )
        if discount is None:
            return {"bulkCreation": None, "userErrors": [_error("Discount does not exist")]}
        if not 0 < len(codes) <= LIMIT:
            return {"bulkCreation": None, "userErrors": [_error("Maximum: 250 codes")]}
        self.bulk_calls.append(len(codes))
        gid = f"gid://shopify/DiscountRedeemCodeBulkCreation/{next(self._ids)}"
        self.bulk[gid] = {
            "shop": shop,
            "discount": discount,
            "codes": codes,
            "results": None,
            "polls_left": self.bulk_polls,
            "createdAt": datetime.now(UTC).isoformat(),
        }
        if self.bulk_polls == 0:  # runs at once, polled or not (as Shopify's queue may)
            self._run(self.bulk[gid])
        return {"bulkCreation": {"id": gid}, "userErrors": []}

    def _run(self, creation: dict) -> None:
        """Create the codes: a code the shop has already, or a rejected one, fails."""
        results, discount = [], creation["discount"]
        for code in creation["codes"]:
            if self._by_code(creation["shop"], code):
                errors = [_error("Code must be unique.", "TAKEN")]
            elif code in self.reject:
                errors = [_error("Code is invalid.")]
            else:
                discount["codes"].append(code)
                errors = []
            results.append({"code": code, "errors": errors})
        creation["results"] = results

    def _poll(self, shop: str, variables: dict) -> dict | None:
        self.polls += 1
        creation = self.bulk.get(variables.get("id") or "")
        if creation is None or creation["shop"] != shop:
            return None
        if creation["polls_left"] > 0:
            creation["polls_left"] -= 1
        elif creation["results"] is None:
            self._run(creation)
        results = creation["results"] or []
        failed = sum(1 for r in results if r["errors"])
        return {
            "id": variables["id"],
            "done": creation["results"] is not None,
            "codesCount": len(creation["codes"]),
            "importedCount": len(results) - failed,
            "failedCount": failed,
            "codes": {"nodes": copy.deepcopy(results)},
        }
