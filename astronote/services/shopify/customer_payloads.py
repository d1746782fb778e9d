"""Shopify customer payloads -> `ShopifyCustomer`, the one shape `customers.upsert` takes.

Where each field comes from (API 2026-10):
- the sync (GraphQL `Customer`): names, email, `tags`, `numberOfOrders`, `amountSpent`,
  `lastOrder`, and `defaultPhoneNumber { phoneNumber smsMarketingConsent {...} }`;
- `customers/create` and `customers/update`: names, email, `phone` only. Since 2025-01
  they carry neither `sms_marketing_consent` nor `tags`;
- `customers_marketing_consent/update`: `id`, `phone`, `sms_marketing_consent`
  (lower-case `state`, `opt_in_level`, `consent_updated_at`, `consent_collected_from`);
- tags: `customer.tags_added` / `customer.tags_removed` (services/shopify/customer_tags).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import select

from astronote.extensions import db
from astronote.models import ConsentState, Contact, Shop
from astronote.services.contacts.fields import FieldError, clean_email, clean_name
from astronote.services.contacts.phones import InvalidPhone, normalize_phone
from astronote.services.shopify import customer_tags

SHOPIFY_STATES = {
    "subscribed": ConsentState.SUBSCRIBED,
    "pending": ConsentState.PENDING,
    "not_subscribed": ConsentState.NOT_SUBSCRIBED,
    "unsubscribed": ConsentState.UNSUBSCRIBED,
    "redacted": ConsentState.UNSUBSCRIBED,  # never market to a redacted number
}


@dataclass
class ShopifyCustomer:
    customer_id: int
    phone: str
    first_name: str | None
    last_name: str | None
    email: str | None
    consent: str | None
    consent_updated_at: datetime | None
    evidence: str
    # None: this source does not carry the field, so what we hold is kept.
    tags: list[str] | None = None
    orders_count: int | None = None
    amount_spent: Decimal | None = None
    last_order_at: datetime | None = None


def customer_id(value) -> int:
    """123 or "gid://shopify/Customer/123" -> 123; ValueError for anything else."""
    text = str(value).rsplit("/", 1)[-1] if isinstance(value, (int, str)) else ""
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**63:
        raise ValueError(f"not a Shopify customer id: {str(value)[:64]!r}")
    return int(text)


def _when(value) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _customer(shop: Shop, cid, phone, first, last, email, consent: dict | None, via: str):
    try:
        e164 = normalize_phone(phone, shop.default_region)
        first, last, email = clean_name(first, "First"), clean_name(last, "Last"), _email(email)
    except (InvalidPhone, FieldError):
        return None
    consent = consent or {}
    state = SHOPIFY_STATES.get(str(consent.get("state") or "").lower())
    updated = _when(consent.get("updatedAt") or consent.get("consent_updated_at"))
    level = consent.get("optInLevel") or consent.get("opt_in_level") or "unknown"
    source = consent.get("collectedFrom") or consent.get("consent_collected_from") or "unknown"
    evidence = f"Shopify {via}: customer {cid}, opt-in level {level}, collected from {source}"
    return ShopifyCustomer(
        customer_id(cid),
        e164,
        first,
        last,
        email,
        state.value if state else None,
        updated,
        evidence,
    )


def _email(value) -> str | None:
    try:
        return clean_email(value)
    except FieldError:
        return None  # a bad email must not cost us the phone


def _count(value) -> int | None:
    try:  # numberOfOrders is an UnsignedInt64, serialised as a string
        return max(int(value), 0) if value is not None else None
    except (TypeError, ValueError):
        return None


def _money(value) -> Decimal | None:
    try:
        amount = Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None
    return amount if amount is not None and amount.is_finite() and amount >= 0 else None


def from_graphql(shop: Shop, node: dict) -> ShopifyCustomer | None:
    phone = node.get("defaultPhoneNumber") or {}
    customer = _customer(
        shop,
        node.get("id"),
        phone.get("phoneNumber"),
        node.get("firstName"),
        node.get("lastName"),
        node.get("email"),
        phone.get("smsMarketingConsent"),
        "customer sync",
    )
    if customer is not None:
        customer.tags = customer_tags.normalise(node.get("tags"))
        customer.orders_count = _count(node.get("numberOfOrders"))
        customer.amount_spent = _money((node.get("amountSpent") or {}).get("amount"))
        customer.last_order_at = _when((node.get("lastOrder") or {}).get("createdAt"))
    return customer


def _payload_phone(payload: dict):
    default = payload.get("default_phone_number") or {}
    return payload.get("phone") or (
        default.get("phone_number") if isinstance(default, dict) else None
    )


def from_webhook(shop: Shop, payload: dict) -> ShopifyCustomer | None:
    """customers/create and customers/update: profile fields only (no consent, no tags)."""
    return _customer(
        shop,
        payload.get("id"),
        _payload_phone(payload),
        payload.get("first_name"),
        payload.get("last_name"),
        payload.get("email"),
        None,
        "webhook",
    )


def from_consent_webhook(shop: Shop, payload: dict) -> ShopifyCustomer | None:
    """customers_marketing_consent/update: the customer's SMS consent and phone."""
    phone = _payload_phone(payload)
    if not phone:  # fall back to the number we already hold for this customer
        known = select(Contact.phone).where(
            Contact.shop_id == shop.id,
            Contact.shopify_customer_id == customer_id(payload.get("id")),
        )
        phone = db.session.execute(known.limit(1)).scalar_one_or_none()
    consent = payload.get("sms_marketing_consent")
    return _customer(
        shop,
        payload.get("id"),
        phone,
        None,
        None,
        None,
        consent if isinstance(consent, dict) else None,
        "consent webhook",
    )
