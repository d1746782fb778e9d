"""Shopify customers -> contacts, with their SMS consent, a page (<=250) at a time.

Consent rule: Shopify's state wins only when it is newer than ours, so a STOP
recorded in Astronote is never undone by a stale customers/update delivery.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from astronote.extensions import db
from astronote.models import ConsentEvent, ConsentSource, ConsentState, Contact, Shop, now_utc
from astronote.services.contacts import counts as contact_counts
from astronote.services.contacts.fields import FieldError, clean_email, clean_name
from astronote.services.contacts.phones import InvalidPhone, normalize_phone

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


def _gid_to_id(value) -> int:
    return int(str(value).rsplit("/", 1)[-1])


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
        _gid_to_id(cid), e164, first, last, email, state.value if state else None, updated, evidence
    )


def _email(value) -> str | None:
    try:
        return clean_email(value)
    except FieldError:
        return None  # a bad email must not cost us the phone


def from_graphql(shop: Shop, node: dict) -> ShopifyCustomer | None:
    phone = node.get("defaultPhoneNumber") or {}
    return _customer(
        shop,
        node.get("id"),
        phone.get("phoneNumber"),
        node.get("firstName"),
        node.get("lastName"),
        node.get("email"),
        phone.get("smsMarketingConsent"),
        "customer sync",
    )


def from_webhook(shop: Shop, payload: dict) -> ShopifyCustomer | None:
    default = payload.get("default_phone_number") or {}
    phone = payload.get("phone") or (
        default.get("phone_number") if isinstance(default, dict) else None
    )
    return _customer(
        shop,
        payload.get("id"),
        phone,
        payload.get("first_name"),
        payload.get("last_name"),
        payload.get("email"),
        payload.get("sms_marketing_consent"),
        "webhook",
    )


def upsert(shop: Shop, customers: list[ShopifyCustomer]) -> int:
    """Create or update contacts for these customers; returns how many were written."""
    by_phone = {c.phone: c for c in customers if c}
    if not by_phone:
        return 0
    ids = [c.customer_id for c in by_phone.values()]
    query = select(Contact).where(
        Contact.shop_id == shop.id,
        or_(Contact.phone.in_(list(by_phone)), Contact.shopify_customer_id.in_(ids)),
    )
    existing = {c.phone: c for c in db.session.execute(query).scalars()}
    deltas: Counter = Counter()
    changed: list[tuple[Contact, ShopifyCustomer]] = []
    for customer in by_phone.values():
        contact = existing.get(customer.phone)
        if contact is None:
            contact = Contact(
                shop_id=shop.id,
                phone=customer.phone,
                consent_state=ConsentState.NOT_SUBSCRIBED.value,
            )
            db.session.add(contact)
            deltas[contact.consent_state] += 1
        if _apply(contact, customer, deltas):
            changed.append((contact, customer))
    db.session.flush()  # one flush gives every new contact its id
    db.session.add_all(
        ConsentEvent(
            shop_id=shop.id,
            contact_id=contact.id,
            state=customer.consent,
            source=ConsentSource.SHOPIFY.value,
            evidence=customer.evidence[:500],
            occurred_at=contact.consent_updated_at,
        )
        for contact, customer in changed
    )
    contact_counts.adjust(shop.id, deltas)
    return len(by_phone)


def _apply(contact: Contact, customer: ShopifyCustomer, deltas: Counter) -> bool:
    """Copy profile fields; take Shopify's consent if newer. True if consent changed."""
    contact.shopify_customer_id = customer.customer_id
    contact.first_name = customer.first_name or contact.first_name
    contact.last_name = customer.last_name or contact.last_name
    contact.email = customer.email or contact.email
    if customer.consent is None or customer.consent == contact.consent_state:
        return False
    ours = contact.consent_updated_at
    theirs = customer.consent_updated_at or now_utc()
    if ours is not None and theirs <= ours:
        return False  # our record is newer: it will be written back to Shopify instead
    deltas[contact.consent_state] -= 1
    deltas[customer.consent] += 1
    contact.consent_state = customer.consent
    contact.consent_source = ConsentSource.SHOPIFY.value
    contact.consent_updated_at = theirs
    return True
