"""Stateless GraphQL Admin API client with retries and typed errors (no database access).

Plain `requests` instead of shopifyapp's `admin_graphql_request` (which hard-codes
`https://{shop}.myshopify.com`) or ShopifyAPI (process-global sessions, unsafe with threads).
Retries cover 429, 5xx, connection errors/timeouts and GraphQL THROTTLED. A read timeout on a
mutation is retried too, so only send idempotent mutations (consent updates are).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from datetime import datetime

import requests

from astronote.integrations.shopify.oauth import admin_base_url

DEFAULT_API_VERSION = "2026-10"
MIN_HINT_DELAY = 0.5
TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class AdminApiError(Exception):
    def __init__(
        self, message: str, *, status: int = 0, errors: list | None = None, data: dict | None = None
    ):
        super().__init__(message)
        self.status = status
        self.errors = errors or []
        self.data = data


class AdminApiUnauthorized(AdminApiError):
    """401: token expired or revoked. Refresh it, retry once; if that fails, re-install."""


class AdminApiThrottled(AdminApiError):
    """Still throttled (429 / THROTTLED) after every retry."""


class AdminApiUnavailable(AdminApiError):
    """Still 5xx or unreachable after every retry."""


class AdminApiGraphQLError(AdminApiError):
    """Top-level `errors` (bad query, ACCESS_DENIED on protected fields, ...)."""


class AdminApiUserErrors(AdminApiError):
    """A mutation answered with `userErrors`; `errors` holds them."""


def raise_for_user_errors(payload: dict | None) -> dict:
    """Return a mutation payload (e.g. data["customerUpdate"]) or raise its userErrors."""
    if payload is None:
        raise AdminApiGraphQLError("mutation returned no payload")
    user_errors = payload.get("userErrors") or []
    if user_errors:
        text = "; ".join(str(e.get("message")) for e in user_errors)
        raise AdminApiUserErrors(f"userErrors: {text}", errors=user_errors, data=payload)
    return payload


class _Retry(Exception):
    """Internal: this attempt failed transiently; `wait` is the server's hint, if any."""

    def __init__(self, error: AdminApiError, wait: float | None = None):
        super().__init__(str(error))
        self.error = error
        self.wait = wait


def throttle_wait(body: dict) -> float | None:
    """Seconds until the bucket holds the requested cost, from extensions.cost."""
    cost = (body.get("extensions") or {}).get("cost") or {}
    status = cost.get("throttleStatus") or {}
    try:
        missing = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        rate = float(status["restoreRate"])
    except (KeyError, TypeError, ValueError):
        return None
    return max(missing, 0.0) / rate if rate > 0 else None


def _is_throttled(errors: list) -> bool:
    return any(((e or {}).get("extensions") or {}).get("code") == "THROTTLED" for e in errors)


def _header_float(response: requests.Response, name: str) -> float | None:
    try:
        return float(response.headers[name])
    except (KeyError, ValueError):
        return None


def _parse(response: requests.Response) -> dict:
    status = response.status_code
    if status == 401:
        raise AdminApiUnauthorized("access token rejected", status=401)
    if status == 429:
        raise _Retry(
            AdminApiThrottled("HTTP 429", status=429), _header_float(response, "Retry-After")
        )
    if status >= 500:
        raise _Retry(AdminApiUnavailable(f"HTTP {status}", status=status))
    if status != 200:  # 402 frozen, 403 missing scope, 404 shop gone, 423 locked
        raise AdminApiError(f"HTTP {status}: {response.text[:200]}", status=status)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):  # a proxy's HTML error page, say: treat as transient
        raise _Retry(AdminApiUnavailable("non-JSON 200 response", status=status))
    errors = body.get("errors") or []
    if isinstance(errors, str):  # some Shopify errors come as one string, not a list
        errors = [{"message": errors}]
    if errors and _is_throttled(errors):
        raise _Retry(AdminApiThrottled("THROTTLED", status=200, errors=errors), throttle_wait(body))
    if errors or body.get("data") is None:
        message = "; ".join(str((e or {}).get("message")) for e in errors) or "no data"
        raise AdminApiGraphQLError(message, status=200, errors=errors, data=body.get("data"))
    return body["data"]


class AdminApiClient:
    def __init__(
        self,
        admin_base_template: str,
        api_version: str = DEFAULT_API_VERSION,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (5, 30),
        max_retries: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
    ):
        self.admin_base_template = admin_base_template
        self.api_version = api_version
        self.session = session or requests.Session()
        self.timeout = timeout
        self.max_retries = max_retries
        self.sleep = sleep
        self.jitter = jitter
        self.base_delay = base_delay
        self.max_delay = max_delay

    def url(self, shop: str) -> str:
        base = admin_base_url(self.admin_base_template, shop)
        return f"{base}/admin/api/{self.api_version}/graphql.json"

    def backoff(self, attempt: int, hint: float | None) -> float:
        """The server's hint when given, else base * 2**attempt; plus up to 25% jitter so
        workers throttled together don't retry in lockstep."""
        # Floor the hint: a bucket reading racing the refill can say 0 s.
        delay = max(hint, MIN_HINT_DELAY) if hint is not None else self.base_delay * 2**attempt
        return min(delay * (1 + 0.25 * self.jitter()), self.max_delay)

    def execute(
        self, shop: str, access_token: str, query: str, variables: dict | None = None
    ) -> dict:
        """POST the query; return `data` or raise an AdminApiError subclass."""
        url = self.url(shop)
        payload = {"query": query, "variables": variables or {}}
        headers = {"X-Shopify-Access-Token": access_token, "Accept": "application/json"}
        for attempt in range(self.max_retries + 1):
            try:
                return self._attempt(url, payload, headers)
            except _Retry as retry:
                if attempt == self.max_retries:
                    raise retry.error from retry.__cause__
                self.sleep(self.backoff(attempt, retry.wait))
        raise AssertionError("unreachable")

    def _attempt(self, url: str, payload: dict, headers: dict) -> dict:
        try:
            response = self.session.post(url, json=payload, headers=headers, timeout=self.timeout)
        except TRANSIENT as exc:
            raise _Retry(AdminApiUnavailable(f"network error: {type(exc).__name__}")) from exc
        return _parse(response)


CUSTOMERS_WITH_PHONE = """
query CustomersWithPhone($first: Int!, $after: String, $query: String) {
  customers(first: $first, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id firstName lastName email tags numberOfOrders
      amountSpent { amount currencyCode }
      lastOrder { createdAt }
      defaultPhoneNumber {
        phoneNumber
        smsMarketingConsent { state optInLevel collectedFrom updatedAt }
      }
    }
  }
}
"""

SHOP_FACTS = """
query ShopFacts {
  shop { name ianaTimezone currencyCode billingAddress { countryCodeV2 } }
}
"""

SMS_CONSENT_UPDATE = """
mutation SmsConsentUpdate($input: CustomerSmsMarketingConsentUpdateInput!) {
  customerSmsMarketingConsentUpdate(input: $input) {
    customer {
      id
      defaultPhoneNumber { phoneNumber smsMarketingConsent { state optInLevel updatedAt } }
    }
    userErrors { field message code }
  }
}
"""

# NOT_SUBSCRIBED and REDACTED are read-only as input (reference §6.1).
WRITABLE_SMS_STATES = frozenset({"SUBSCRIBED", "UNSUBSCRIBED", "PENDING"})
OPT_IN_LEVELS = frozenset({"SINGLE_OPT_IN", "CONFIRMED_OPT_IN", "UNKNOWN"})


def customers_page(
    client: AdminApiClient, shop: str, token: str, after: str | None, page_size: int = 250
) -> tuple[list[dict], str | None]:
    """One page of customers with a phone; returns (nodes, cursor of the next page or None)."""
    variables = {"first": min(page_size, 250), "after": after, "query": "phone:*"}
    page = client.execute(shop, token, CUSTOMERS_WITH_PHONE, variables)["customers"]
    info = page["pageInfo"]
    return page["nodes"], (info["endCursor"] if info["hasNextPage"] else None)


def shop_facts(client: AdminApiClient, shop: str, token: str) -> dict:
    """The shop's name, IANA time zone, currency and country code (None when unknown)."""
    data = client.execute(shop, token, SHOP_FACTS)["shop"] or {}
    return {
        "name": data.get("name"),
        "timezone": data.get("ianaTimezone"),
        "currency": data.get("currencyCode"),
        "country": (data.get("billingAddress") or {}).get("countryCodeV2"),
    }


def iter_customers_with_phone(
    client: AdminApiClient, shop: str, token: str, page_size: int = 250
) -> Iterator[dict]:
    """Yield every customer that has a phone number, one page (≤250) per request."""
    after = None
    while True:
        nodes, after = customers_page(client, shop, token, after, page_size)
        yield from nodes
        if after is None:
            return


def update_sms_consent(
    client: AdminApiClient,
    shop: str,
    token: str,
    customer_gid: str,
    state: str,
    opt_in_level: str | None,
    updated_at: datetime | None,
) -> dict:
    """Write a customer's SMS consent to Shopify; return the updated customer.

    `updated_at` is an aware datetime (when consent was collected) or None for "now".
    The customer must already have a phone number, or Shopify answers with userErrors.
    """
    if state not in WRITABLE_SMS_STATES:
        raise ValueError(f"SMS consent state {state!r} cannot be written")
    if opt_in_level is not None and opt_in_level not in OPT_IN_LEVELS:
        raise ValueError(f"unknown opt-in level {opt_in_level!r}")
    consent = {"marketingState": state}
    if opt_in_level is not None:
        consent["marketingOptInLevel"] = opt_in_level
    if updated_at is not None:
        if updated_at.tzinfo is None:
            raise ValueError("updated_at must be timezone-aware")
        consent["consentUpdatedAt"] = updated_at.isoformat()
    variables = {"input": {"customerId": customer_gid, "smsMarketingConsent": consent}}
    data = client.execute(shop, token, SMS_CONSENT_UPDATE, variables)
    return raise_for_user_errors(data.get("customerSmsMarketingConsentUpdate"))["customer"]
