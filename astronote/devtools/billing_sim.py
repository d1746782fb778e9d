"""Shopify's Billing API as a simulator: one-time purchases, subscriptions with a capped
usage line item, usage records, and the webhooks Shopify sends about them.

The tests' fake Shopify (tests/fakes/shopify_server.py) and `make run`'s billing server
(devtools/billing_sim_app.py) both answer billing through this one class. GraphQL is
dispatched on the root field's name, not parsed. Payloads follow API 2026-10: money as
decimal strings, statuses in capitals, webhooks signed with the app's secret.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import hmac
import itertools
import json
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

import requests

CAP_EXCEEDED = "Total price exceeds balance remaining"
PERIOD = timedelta(days=30)
APPROACHING = Decimal("0.9")  # Shopify warns at 90% of the capped amount


def decimal_string(cents: int) -> str:
    """Money as Shopify serialises a Decimal: "10.0", "10.5", "10.25"."""
    whole, frac = divmod(cents, 100)
    return f"{whole}.{frac // 10}" if frac % 10 == 0 else f"{whole}.{frac:02d}"


def to_cents(amount) -> int | None:
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return None
    return int(value * 100) if value.is_finite() and value >= 0 else None


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def shop_gid(shop: str) -> str:
    return f"gid://shopify/Shop/{int(hashlib.sha256(shop.encode()).hexdigest()[:10], 16)}"


@dataclass
class Delivery:
    topic: str
    shop: str
    body: bytes
    headers: dict


class BillingSim:
    """All billing state of every shop, guarded by one lock."""

    def __init__(self, api_secret: str, base_url: str, webhook_url: str | None = None):
        self.api_secret, self.base_url, self.webhook_url = api_secret, base_url, webhook_url
        self.now = lambda: datetime.now(UTC)  # tests may replace it
        self.purchases: dict[str, dict] = {}  # gid -> purchase (with "shop")
        self.subscriptions: dict[str, dict] = {}
        self.usage_records: dict[tuple[str, str], dict] = {}  # (line item, key) -> record
        self.outbox: list[Delivery] = []  # every webhook sent, in order
        self._ids = itertools.count(1001)
        self.lock = threading.RLock()

    # --- GraphQL ------------------------------------------------------------------------------
    def resolve(self, shop: str, query: str, variables: dict) -> dict | None:
        """The `data` of a billing query or mutation, or None when it is not one."""
        with self.lock:
            if "appPurchaseOneTimeCreate" in query:
                return {"appPurchaseOneTimeCreate": self._create_purchase(shop, variables)}
            if "appSubscriptionCreate" in query:
                return {"appSubscriptionCreate": self._create_subscription(shop, variables)}
            if "appSubscriptionCancel" in query:
                return {"appSubscriptionCancel": self._cancel(shop, variables)}
            if "appUsageRecordCreate" in query:
                return {"appUsageRecordCreate": self._usage_record(shop, variables)}
            if "currentAppInstallation" in query:
                return {"currentAppInstallation": self._installation(shop, query, variables)}
        return None

    def _create_purchase(self, shop: str, v: dict) -> dict:
        cents = to_cents((v.get("price") or {}).get("amount"))
        if not v.get("name") or not cents or not v.get("returnUrl"):
            return _errors(["price"], "Name, a positive price and a return URL are required")
        number = next(self._ids)
        purchase = {
            "id": f"gid://shopify/AppPurchaseOneTime/{number}",
            "name": v["name"],
            "status": "PENDING",
            "test": bool(v.get("test")),
            "createdAt": iso(self.now()),
            "price": {"amount": decimal_string(cents), "currencyCode": v["price"]["currencyCode"]},
        }
        self.purchases[purchase["id"]] = {**purchase, "shop": shop, "returnUrl": v["returnUrl"]}
        return {
            "appPurchaseOneTime": purchase,
            "confirmationUrl": self.confirmation_url(shop, "purchase", number),
            "userErrors": [],
        }

    def _create_subscription(self, shop: str, v: dict) -> dict:
        items = []
        for index, item in enumerate(v.get("lineItems") or []):
            plan = item.get("plan") or {}
            line_id = f"gid://shopify/AppSubscriptionLineItem/{next(self._ids)}?v=1&index={index}"
            if "appRecurringPricingDetails" in plan:
                d = plan["appRecurringPricingDetails"]
                price = {"amount": decimal_string(to_cents(d["price"]["amount"]) or 0),
                         "currencyCode": d["price"]["currencyCode"]}  # fmt: skip
                details = {"__typename": "AppRecurringPricing", "price": price,
                           "interval": d.get("interval", "EVERY_30_DAYS")}  # fmt: skip
            elif "appUsagePricingDetails" in plan:
                d = plan["appUsagePricingDetails"]
                capped = to_cents(d["cappedAmount"]["amount"]) or 0
                cur = d["cappedAmount"]["currencyCode"]
                details = {"__typename": "AppUsagePricing", "terms": d.get("terms", ""),
                           "cappedAmount": {"amount": decimal_string(capped), "currencyCode": cur},
                           "balanceUsed": {"amount": "0.0", "currencyCode": cur}}  # fmt: skip
            else:
                return _errors(["lineItems"], "Each line item needs a pricing plan")
            items.append({"id": line_id, "plan": {"pricingDetails": details}})
        if not v.get("name") or not items or not v.get("returnUrl"):
            return _errors(["name"], "Name, line items and a return URL are required")
        number = next(self._ids)
        subscription = {
            "id": f"gid://shopify/AppSubscription/{number}",
            "name": v["name"],
            "status": "PENDING",
            "test": bool(v.get("test")),
            "createdAt": iso(self.now()),
            "currentPeriodEnd": None,
            "lineItems": items,
        }
        self.subscriptions[subscription["id"]] = {
            **subscription, "shop": shop, "returnUrl": v["returnUrl"], "warned": False
        }  # fmt: skip
        return {
            "appSubscription": copy.deepcopy(subscription),
            "confirmationUrl": self.confirmation_url(shop, "subscription", number),
            "userErrors": [],
        }

    def _usage_record(self, shop: str, v: dict) -> dict:
        line_id, key = v.get("subscriptionLineItemId"), v.get("idempotencyKey") or ""
        found = self._line_item(shop, line_id)
        if found is None:
            return _errors(["subscriptionLineItemId"], "Subscription line item not found")
        subscription, usage = found
        if subscription["status"] != "ACTIVE":
            return _errors(["subscriptionLineItemId"], "The subscription is not active")
        if key and (line_id, key) in self.usage_records:  # the same key never charges twice
            return {"appUsageRecord": copy.deepcopy(self.usage_records[line_id, key]),
                    "userErrors": []}  # fmt: skip
        cents = to_cents((v.get("price") or {}).get("amount"))
        if not cents:
            return _errors(["price"], "Price must be greater than zero")
        used = to_cents(usage["balanceUsed"]["amount"]) or 0
        capped = to_cents(usage["cappedAmount"]["amount"]) or 0
        if used + cents > capped:
            return _errors(["price"], CAP_EXCEEDED)
        record = {
            "id": f"gid://shopify/AppUsageRecord/{next(self._ids)}",
            "idempotencyKey": key or None,
            "description": v.get("description") or "",
            "price": {"amount": decimal_string(cents), "currencyCode": v["price"]["currencyCode"]},
        }
        self.usage_records[line_id, key or record["id"]] = record
        usage["balanceUsed"]["amount"] = decimal_string(used + cents)
        if not subscription["warned"] and used + cents >= capped * APPROACHING:
            subscription["warned"] = True
            self.send("app_subscriptions/approaching_capped_amount", subscription)
        return {"appUsageRecord": copy.deepcopy(record), "userErrors": []}

    def _cancel(self, shop: str, v: dict) -> dict:
        subscription = self.subscriptions.get(v.get("id") or "")
        if subscription is None or subscription["shop"] != shop:
            return {"appSubscription": None, **_errors(["id"], "Subscription not found")}
        if subscription["status"] not in ("ACTIVE", "FROZEN", "PENDING"):
            return {"appSubscription": None, **_errors(["id"], "Subscription is not active")}
        subscription["status"] = "CANCELLED"
        self.send("app_subscriptions/update", subscription)
        return {"appSubscription": {"id": subscription["id"], "status": "CANCELLED"},
                "userErrors": []}  # fmt: skip

    def _line_item(self, shop: str, line_id) -> tuple[dict, dict] | None:
        for subscription in self.subscriptions.values():
            for item in subscription["lineItems"] if subscription["shop"] == shop else ():
                details = item["plan"]["pricingDetails"]
                if item["id"] == line_id and details["__typename"] == "AppUsagePricing":
                    return subscription, details
        return None

    def _installation(self, shop: str, query: str, v: dict) -> dict:
        """oneTimePurchases / allSubscriptions (newest first, paged) or activeSubscriptions."""
        own = {"oneTimePurchases": self.purchases, "allSubscriptions": self.subscriptions}
        for field, store in own.items():
            if field in query:
                rows = [_public(r) for r in store.values() if r["shop"] == shop][::-1]
                return {field: _page(rows, v)}
        active = [_public(s) for s in self.subscriptions.values()
                  if s["shop"] == shop and s["status"] == "ACTIVE"]  # fmt: skip
        return {"activeSubscriptions": active}

    # --- the merchant's confirmation page and what follows ------------------------------------
    def confirmation_url(self, shop: str, kind: str, number: int) -> str:
        return f"{self.base_url}/{shop}/admin/charges/{kind}/{number}/confirm"

    def charge(self, kind: str, number: str) -> dict | None:
        store = self.purchases if kind == "purchase" else self.subscriptions
        prefix = "AppPurchaseOneTime" if kind == "purchase" else "AppSubscription"
        return store.get(f"gid://shopify/{prefix}/{number}")

    def decide(self, gid: str, approve: bool) -> str:
        """The merchant's click: approve or decline a pending charge; returns where Shopify
        sends the merchant (the return URL with `charge_id`)."""
        with self.lock:
            charge = self.purchases.get(gid) or self.subscriptions[gid]
            if charge["status"] == "PENDING":
                charge["status"] = "ACTIVE" if approve else "DECLINED"
                if approve and gid in self.subscriptions:
                    self._replace_active(charge)
                    charge["currentPeriodEnd"] = iso(self.now() + PERIOD)
                self._announce(gid)
            separator = "&" if "?" in charge["returnUrl"] else "?"
            return f"{charge['returnUrl']}{separator}charge_id={gid.rsplit('/', 1)[1]}"

    def _replace_active(self, new: dict) -> None:
        """Approving a plan cancels the app's other active plan on that shop."""
        for other in self.subscriptions.values():
            if other is not new and other["shop"] == new["shop"] and other["status"] == "ACTIVE":
                other["status"] = "CANCELLED"
                self.send("app_subscriptions/update", other)

    def expire(self, gid: str) -> None:
        """Shopify expires a purchase nobody approved within two days."""
        with self.lock:
            (self.purchases.get(gid) or self.subscriptions[gid])["status"] = "EXPIRED"
            self._announce(gid)

    def renew(self, gid: str) -> None:
        """A new 30-day period: the period end moves on, the usage balance restarts."""
        with self.lock:
            subscription = self.subscriptions[gid]
            end = datetime.fromisoformat(subscription["currentPeriodEnd"].replace("Z", "+00:00"))
            subscription["currentPeriodEnd"], subscription["warned"] = iso(end + PERIOD), False
            for item in subscription["lineItems"]:
                if "balanceUsed" in item["plan"]["pricingDetails"]:
                    item["plan"]["pricingDetails"]["balanceUsed"]["amount"] = "0.0"

    def cancel_all(self, shop: str) -> None:
        """Uninstall: Shopify cancels the shop's plans itself."""
        with self.lock:
            for subscription in self.subscriptions.values():
                if subscription["shop"] == shop and subscription["status"] == "ACTIVE":
                    subscription["status"] = "CANCELLED"
                    self.send("app_subscriptions/update", subscription)

    def _announce(self, gid: str) -> None:
        if gid in self.purchases:
            self.send("app_purchases_one_time/update", self.purchases[gid])
        else:
            self.send("app_subscriptions/update", self.subscriptions[gid])

    # --- webhooks -----------------------------------------------------------------------------
    def payload(self, topic: str, charge: dict) -> dict:
        stamps = {"admin_graphql_api_shop_id": shop_gid(charge["shop"]),
                  "created_at": charge["createdAt"], "updated_at": iso(self.now())}  # fmt: skip
        base = {"admin_graphql_api_id": charge["id"], "name": charge["name"]}
        if topic == "app_purchases_one_time/update":
            return {"app_purchase_one_time": {**base, "status": charge["status"], **stamps}}
        usage = _usage(charge)
        if topic == "app_subscriptions/approaching_capped_amount":
            used = Decimal(usage["balanceUsed"]["amount"])
            return {"app_subscription": {**base, "balance_used": float(used),
                    "capped_amount": usage["cappedAmount"]["amount"],
                    "currency_code": usage["cappedAmount"]["currencyCode"], **stamps}}  # fmt: skip
        recurring = _recurring(charge)
        return {"app_subscription": {**base, "status": charge["status"], **stamps,
                "currency": recurring["price"]["currencyCode"],
                "capped_amount": usage["cappedAmount"]["amount"] if usage else None,
                "price": recurring["price"]["amount"], "interval": "every_30_days"}}  # fmt: skip

    def signed(self, topic: str, shop: str, payload: dict) -> Delivery:
        body = json.dumps(payload).encode()
        digest = hmac.new(self.api_secret.encode(), body, hashlib.sha256).digest()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-API-Version": "2026-10",
            "X-Shopify-Triggered-At": iso(self.now()),
        }
        return Delivery(topic, shop, body, headers)

    def send(self, topic: str, charge: dict) -> Delivery:
        delivery = self.signed(topic, charge["shop"], self.payload(topic, charge))
        self.outbox.append(delivery)
        if self.webhook_url:  # a live app: deliver as Shopify would, off the caller's thread
            threading.Thread(target=self._post, args=(delivery,), daemon=True).start()
        return delivery

    def _post(self, delivery: Delivery) -> None:
        # A lost delivery is what Shopify retries; the app's return page and sweeper verify.
        with contextlib.suppress(requests.RequestException):
            requests.post(self.webhook_url, data=delivery.body, headers=delivery.headers, timeout=5)


def _errors(field: list[str], message: str) -> dict:
    return {"userErrors": [{"field": field, "message": message}]}


def _public(charge: dict) -> dict:
    return copy.deepcopy(
        {k: v for k, v in charge.items() if k not in ("shop", "returnUrl", "warned")}
    )


def _page(rows: list[dict], v: dict) -> dict:
    first = max(1, min(int(v.get("first") or 50), 250))
    start = int(base64.b64decode(v["after"]).decode()) if v.get("after") else 0
    nodes = rows[start : start + first]
    end = start + len(nodes)
    cursor = base64.b64encode(str(end).encode()).decode() if nodes else None
    return {"nodes": nodes, "pageInfo": {"hasNextPage": end < len(rows), "endCursor": cursor}}


def _details(charge: dict, typename: str) -> dict | None:
    for item in charge.get("lineItems", []):
        if item["plan"]["pricingDetails"]["__typename"] == typename:
            return item["plan"]["pricingDetails"]
    return None


def _usage(charge: dict) -> dict | None:
    return _details(charge, "AppUsagePricing")


def _recurring(charge: dict) -> dict:
    return _details(charge, "AppRecurringPricing") or {
        "price": {"amount": "0.0", "currencyCode": "USD"}
    }
