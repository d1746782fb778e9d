"""Webhook HMAC verification and header parsing (reference §5.1); no database access.

Hand-written rather than shopifyapp 1.0.2's `verify_webhook_req`: it wants the body as
`str` (re-encoded as UTF-8, so Flask's raw bytes need a lossy decode round-trip), a
method/headers dict, returns 400-vs-401 response objects we don't use, and compares the
header with `hmac.compare_digest` on str, which raises TypeError on non-ASCII garbage
instead of failing closed. Comparing raw digests over `request.get_data()` is ~10 lines.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from astronote.integrations.shopify.session_tokens import is_shop_domain

HMAC_HEADER = "X-Shopify-Hmac-Sha256"
# "orders/create", and the customer event family's dotted form, "customer.tags_added".
TOPIC = re.compile(r"^[a-z0-9_]+([/.][a-z0-9_]+)+$")
API_VERSION = re.compile(r"^(\d{4}-\d{2}|unstable)$")
MAX_ID_LENGTH = 255  # ids become unique database keys for dedupe
# Shopify retries a failed delivery 8 times over 4 hours (changelog "Updates to webhook
# retry mechanism", 2024-09), always with the original X-Shopify-Triggered-At. Anything
# older cannot be one of Shopify's deliveries: it is a replay. One hour of margin covers
# clock skew and a slow last retry.
RETRY_HORIZON = timedelta(hours=4)
STALE_AFTER = RETRY_HORIZON + timedelta(hours=1)


class InvalidWebhook(Exception):
    """A header is missing or malformed; answer 400 (a bad HMAC is a 401, see below)."""


def webhook_hmac(raw_body: bytes, secret: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest()


def verify_webhook_hmac(raw_body: bytes, header_value: str | None, secrets: list[str]) -> bool:
    """True if the header is base64(HMAC-SHA256(raw_body)) under any non-empty secret.

    Pass `[current, previous]`: Shopify may sign with the old secret for an hour after a
    rotation. Blank entries (an unset previous secret) are skipped.
    """
    if not header_value:
        return False
    try:
        received = base64.b64decode(header_value.strip(), validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII header text
        return False
    # Check every secret (no short-circuit) so timing doesn't reveal which one matched.
    matches = [hmac.compare_digest(received, webhook_hmac(raw_body, s)) for s in secrets if s]
    return any(matches)


@dataclass(frozen=True)
class WebhookDelivery:
    topic: str
    shop_domain: str
    webhook_id: str  # unique per delivery, stable across retries: the dedupe key
    api_version: str
    event_id: str | None  # shared by all deliveries caused by one action
    triggered_at: datetime | None  # aware UTC; drops stale/out-of-order payloads


def _lower_keys(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    # Werkzeug headers are case-insensitive, plain dicts (tests, other frameworks) are not.
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {key.lower(): value for key, value in items}


def _required(headers: dict[str, str], name: str) -> str:
    value = (headers.get(name.lower()) or "").strip()
    if not value:
        raise InvalidWebhook(f"missing header {name}")
    return value


def _identifier(headers: dict[str, str], name: str, *, required: bool) -> str | None:
    if not required and not (headers.get(name.lower()) or "").strip():
        return None
    value = _required(headers, name)
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise InvalidWebhook(f"malformed header {name}")
    return value


def _triggered_at(headers: dict[str, str]) -> datetime | None:
    raw = (headers.get("x-shopify-triggered-at") or "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)  # 3.11 accepts "Z" and nanosecond fractions
    except ValueError as exc:
        raise InvalidWebhook("malformed header X-Shopify-Triggered-At") from exc
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def parse_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> WebhookDelivery:
    """Parse the X-Shopify-* headers of a delivery; raise InvalidWebhook if unusable.

    Event-Id and Triggered-At are optional: Shopify doesn't promise them on every topic
    (e.g. compliance webhooks), and refusing a compliance delivery would be worse.
    """
    lowered = _lower_keys(headers)
    topic = _required(lowered, "X-Shopify-Topic")
    if not TOPIC.match(topic):
        raise InvalidWebhook(f"malformed topic {topic[:64]!r}")
    shop = _required(lowered, "X-Shopify-Shop-Domain").lower()
    if not is_shop_domain(shop):
        raise InvalidWebhook(f"shop domain is not *.myshopify.com: {shop[:64]!r}")
    version = _required(lowered, "X-Shopify-API-Version")
    if not API_VERSION.match(version):
        raise InvalidWebhook(f"malformed API version {version[:32]!r}")
    return WebhookDelivery(
        topic=topic,
        shop_domain=shop,
        webhook_id=_identifier(lowered, "X-Shopify-Webhook-Id", required=True),
        api_version=version,
        event_id=_identifier(lowered, "X-Shopify-Event-Id", required=False),
        triggered_at=_triggered_at(lowered),
    )


def is_stale(delivery: WebhookDelivery, now: datetime | None = None) -> bool:
    """True when the delivery was triggered longer ago than Shopify ever retries."""
    if delivery.triggered_at is None:
        return False
    return (now or datetime.now(UTC)) - delivery.triggered_at > STALE_AFTER


def payload_shop_mismatch(delivery: WebhookDelivery, payload: dict) -> bool:
    """True when the payload names a shop (`shop_domain`) other than the header's."""
    named = payload.get("shop_domain")
    if named is None:
        return False
    return not isinstance(named, str) or named.strip().lower() != delivery.shop_domain
