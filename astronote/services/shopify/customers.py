"""Shopify customers -> contacts, with their SMS consent, a page (<=250) at a time.

Consent rule: Shopify's state wins only when it is newer than ours, so a STOP
recorded in Astronote is never undone by a stale consent delivery. The payload readers
(which field comes from which topic or query) live in `customer_payloads`.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import or_, select

from astronote.extensions import db
from astronote.models import ConsentEvent, ConsentSource, ConsentState, Contact, Shop, now_utc
from astronote.services.automations import triggers as automation_triggers
from astronote.services.contacts import counts as contact_counts
from astronote.services.shopify import customer_tags
from astronote.services.shopify.customer_payloads import ShopifyCustomer


def upsert(shop: Shop, customers: list[ShopifyCustomer], welcome: bool = False) -> int:
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
    tagged: list[tuple[Contact, list[str]]] = []
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
        if customer.tags is not None:
            tagged.append((contact, customer.tags))
    db.session.flush()  # one flush gives every new contact its id
    customer_tags.replace(shop, {contact.id: tags for contact, tags in tagged})
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
    # A live consent change (checkout, the Shopify admin) is welcomed; a bulk sync of the
    # shop's existing subscribers is not, like an import.
    for contact, customer in changed if welcome else ():
        if customer.consent == ConsentState.SUBSCRIBED.value:
            automation_triggers.welcome(shop.id, contact.id)
    return len(by_phone)


def _apply(contact: Contact, customer: ShopifyCustomer, deltas: Counter) -> bool:
    """Copy profile fields; take Shopify's consent if newer. True if consent changed."""
    contact.shopify_customer_id = customer.customer_id
    contact.first_name = customer.first_name or contact.first_name
    contact.last_name = customer.last_name or contact.last_name
    contact.email = customer.email or contact.email
    _apply_order_stats(contact, customer)
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


def _apply_order_stats(contact: Contact, customer: ShopifyCustomer) -> None:
    """Shopify's lifetime figures replace ours: they include orders placed before install."""
    if customer.orders_count is not None:
        contact.orders_count = customer.orders_count
    if customer.amount_spent is not None:
        contact.amount_spent = customer.amount_spent
    if customer.last_order_at is not None:
        contact.last_order_at = customer.last_order_at
