"""GDPR webhooks: erase a shop, erase a customer, export a customer's data.

Every action is written to compliance_records (what and when, never the data).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass

from sqlalchemy import delete, or_, select

from astronote.extensions import db
from astronote.models import (
    ComplianceRecord,
    ConsentEvent,
    Contact,
    ContactTag,
    CustomerDataExport,
    Order,
    Shop,
    WebhookEvent,
)
from astronote.services.contacts import counts as contact_counts
from astronote.services.contacts.phones import InvalidPhone, normalize_phone
from astronote.services.scoped import get_owned
from astronote.services.shopify import gdpr_erasure as customer_erasure


def _record(shop_domain: str, topic: str, webhook_id: str | None, action: str, customer=None):
    db.session.add(
        ComplianceRecord(
            shop_domain=shop_domain,
            topic=topic,
            webhook_id=webhook_id,
            shopify_customer_id=customer,
            action=action,
        )
    )


def redact_shop(shop_domain: str, webhook_id: str | None) -> None:
    """shop/redact (48 h after uninstall): erase everything we hold for the shop."""
    shop = db.session.execute(select(Shop).filter_by(shop_domain=shop_domain)).scalar_one_or_none()
    erased = "no data held"
    if shop is not None:
        db.session.delete(shop)  # every child table cascades
        erased = f"deleted shop #{shop.id} and all its contacts, imports, orders and exports"
    db.session.execute(
        delete(WebhookEvent).where(
            WebhookEvent.shop_domain == shop_domain, WebhookEvent.webhook_id != webhook_id
        )
    )
    _record(shop_domain, "shop/redact", webhook_id, erased)


@dataclass(frozen=True)
class _Customer:
    """What identifies a customer in this shop: Shopify id, phone (E.164), email."""

    shopify_id: int | None
    phones: tuple[str, ...]
    email: str | None

    @classmethod
    def of(cls, shop: Shop, customer: dict) -> _Customer:
        raw_id, phones = str(customer.get("id") or ""), ()
        with contextlib.suppress(InvalidPhone):
            phones = (normalize_phone(customer.get("phone"), shop.default_region),)
        email = str(customer.get("email") or "").strip().lower() or None
        return cls(int(raw_id) if raw_id.isascii() and raw_id.isdigit() else None, phones, email)


def _customer_contacts(shop: Shop, who: _Customer) -> list[Contact]:
    clauses = [Contact.phone == phone for phone in who.phones]
    if who.shopify_id is not None:
        clauses.append(Contact.shopify_customer_id == who.shopify_id)
    if who.email:
        clauses.append(Contact.email == who.email)
    if not clauses:
        return []
    query = select(Contact).where(Contact.shop_id == shop.id, or_(*clauses))
    return list(db.session.execute(query).scalars())


def redact_customer(shop: Shop, payload: dict, webhook_id: str | None) -> None:
    """customers/redact: delete the customer's contacts and history; totals shrink accordingly."""
    who = _Customer.of(shop, payload.get("customer") or {})
    contacts = _customer_contacts(shop, who)
    phones = sorted({c.phone for c in contacts} | set(who.phones))
    emails = sorted({c.email for c in contacts if c.email} | ({who.email} - {None}))
    erased = customer_erasure.erase(shop, [c.id for c in contacts], phones, emails)
    for contact in contacts:
        contact_counts.adjust(shop.id, {contact.consent_state: -1})
        db.session.delete(contact)
    orders = payload.get("orders_to_redact") or []
    if who.shopify_id is not None:
        db.session.execute(
            Order.__table__.update()
            .where(Order.shop_id == shop.id, Order.shopify_customer_id == who.shopify_id)
            .values(shopify_customer_id=None, landing_site=None)
        )
    _record(
        shop.shop_domain,
        "customers/redact",
        webhook_id,
        f"deleted {len(contacts)} contact(s) with their consent history and tags; "
        f"erased {erased['messages']} message(s) ({erased['unsent']} not yet sent, now never), "
        f"{erased['replies']} reply(ies), {erased['forms']} form submission(s); "
        f"unlinked orders ({len(orders)} listed)",
        who.shopify_id,
    )


def _contact_document(contact: Contact) -> dict:
    tags = db.session.execute(select(ContactTag.tag).filter_by(contact_id=contact.id)).scalars()
    events = db.session.execute(
        select(ConsentEvent).filter_by(contact_id=contact.id).order_by(ConsentEvent.occurred_at)
    ).scalars()
    return {
        "phone": contact.phone,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": contact.email,
        "gender": contact.gender,
        "birth_date": contact.birth_date.isoformat() if contact.birth_date else None,
        "sms_consent": contact.consent_state,
        "consent_source": contact.consent_source,
        "tags": sorted(tags),
        "created_at": contact.created_at.isoformat(),
        "consent_history": [
            {
                "state": e.state,
                "source": e.source,
                "evidence": e.evidence,
                "occurred_at": e.occurred_at.isoformat(),
            }
            for e in events
        ],
    }


def export_customer(shop: Shop, payload: dict, webhook_id: str | None) -> CustomerDataExport:
    """customers/data_request: everything we store about the customer, as JSON."""
    who = _Customer.of(shop, payload.get("customer") or {})
    contacts = _customer_contacts(shop, who)
    document = {
        "shop": shop.shop_domain,
        "shopify_customer_id": who.shopify_id,
        "data_request_id": (payload.get("data_request") or {}).get("id"),
        "contacts": [_contact_document(c) for c in contacts],
    }
    export = CustomerDataExport(
        shop_id=shop.id,
        shopify_customer_id=who.shopify_id,
        data_request_id=str(document["data_request_id"] or "")[:64] or None,
        contacts_found=len(contacts),
        document=json.dumps(document, indent=2, default=str),
    )
    db.session.add(export)
    _record(
        shop.shop_domain,
        "customers/data_request",
        webhook_id,
        f"prepared export with {len(contacts)} contact(s) for the merchant",
        who.shopify_id,
    )
    return export


def recent_exports(shop: Shop, limit: int = 20) -> list[CustomerDataExport]:
    """The shop's latest customer data exports, newest first, for the Settings page."""
    query = select(CustomerDataExport).filter_by(shop_id=shop.id)
    return list(
        db.session.execute(query.order_by(CustomerDataExport.id.desc()).limit(limit)).scalars()
    )


def get_export(shop: Shop, export_id: int) -> CustomerDataExport:
    return get_owned(CustomerDataExport, shop.id, export_id, "data export")
