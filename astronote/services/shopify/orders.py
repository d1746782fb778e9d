"""Order and checkout facts from webhooks, linked to contacts for automations and revenue."""

from __future__ import annotations

import contextlib
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import select

from astronote.extensions import db
from astronote.models import AbandonedCheckout, ConsentState, Contact, Order, Shop, now_utc
from astronote.services.contacts import counts as contact_counts
from astronote.services.contacts.phones import InvalidPhone, normalize_phone
from astronote.services.sql import insert


def parse_time(value) -> datetime:
    """A Shopify timestamp; now if it is missing or malformed (a payload never 500s).
    Always aware: one without an offset is taken as UTC (never compared naive to aware)."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return now_utc()
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _money(value) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def _find_contact(shop: Shop, customer_id, phone) -> Contact | None:
    """The Shopify customer's contact first, else the one with the order's phone."""
    with contextlib.suppress(TypeError, ValueError):
        if customer_id:
            by_customer = select(Contact).where(
                Contact.shop_id == shop.id, Contact.shopify_customer_id == int(customer_id)
            )
            if contact := db.session.execute(by_customer.limit(1)).scalar_one_or_none():
                return contact
    try:
        number = normalize_phone(phone, shop.default_region)
    except InvalidPhone:
        return None
    query = select(Contact).where(Contact.shop_id == shop.id, Contact.phone == number)
    return db.session.execute(query.limit(1)).scalar_one_or_none()


def _customer(payload: dict) -> tuple[int | None, str | None]:
    customer = payload.get("customer") or {}
    phone = (
        payload.get("phone")
        or customer.get("phone")
        or ((payload.get("billing_address") or {}).get("phone"))
    )
    return customer.get("id"), phone


def record_order(shop: Shop, payload: dict) -> Order | None:
    """orders/create: store once per order id; update the buyer's purchase history."""
    order_id = payload.get("id")
    if not order_id:
        return None
    existing = find_order(shop, order_id)
    if existing is not None:
        return existing
    customer_id, phone = _customer(payload)
    contact = _find_contact(shop, customer_id, phone) or _new_buyer(shop, payload, phone)
    ordered_at = parse_time(payload.get("created_at"))
    order = Order(
        shop_id=shop.id,
        shopify_order_id=int(order_id),
        contact_id=contact.id if contact else None,
        shopify_customer_id=customer_id,
        name=str(payload.get("name") or "")[:64] or None,
        checkout_token=payload.get("checkout_token"),
        total_price=_money(payload.get("total_price")),
        currency=(payload.get("currency") or None),
        ordered_at=ordered_at,
        landing_site=str(payload.get("landing_site") or "")[:500] or None,
    )
    db.session.add(order)
    if contact is not None:
        contact.orders_count += 1
        spent = order.total_price
        if spent is not None and spent.is_finite() and 0 <= spent < 10**11:
            contact.amount_spent = (contact.amount_spent or 0) + spent
        contact.first_order_at = min(filter(None, [contact.first_order_at, ordered_at]))
        contact.last_order_at = max(filter(None, [contact.last_order_at, ordered_at]))
    if order.checkout_token:  # only this checkout is recovered, never the whole shop's
        db.session.execute(
            AbandonedCheckout.__table__.update()
            .where(
                AbandonedCheckout.shop_id == shop.id,
                AbandonedCheckout.checkout_token == order.checkout_token,
                AbandonedCheckout.completed_at.is_(None),
            )
            .values(completed_at=ordered_at)
        )
    return order


def _new_buyer(shop: Shop, payload: dict, phone) -> Contact | None:
    """A buyer we have no contact for, who gave a phone: a contact who has not subscribed,
    so the order's transactional messages can reach them (never marketing)."""
    try:
        number = normalize_phone(phone, shop.default_region)
    except InvalidPhone:
        return None
    customer = payload.get("customer") or {}
    customer_id = customer.get("id")
    now = now_utc()
    stmt = insert(Contact.__table__).values(
        shop_id=shop.id,
        phone=number,
        first_name=str(customer.get("first_name") or "")[:100] or None,
        last_name=str(customer.get("last_name") or "")[:100] or None,
        consent_state=ConsentState.NOT_SUBSCRIBED.value,
        shopify_customer_id=customer_id if isinstance(customer_id, int) else None,
        orders_count=0,
        amount_spent=0,
        created_at=now,
        updated_at=now,
    )
    stmt = stmt.on_conflict_do_nothing(index_elements=["shop_id", "phone"])
    if db.session.execute(stmt.returning(Contact.__table__.c.id)).first() is not None:
        contact_counts.adjust(shop.id, Counter({ConsentState.NOT_SUBSCRIBED.value: 1}))
    query = select(Contact).filter_by(shop_id=shop.id, phone=number)
    return db.session.execute(query).scalar_one_or_none()


def find_order(shop: Shop, order_id) -> Order | None:
    try:
        number = int(order_id)
    except (TypeError, ValueError):
        return None
    query = select(Order).filter_by(shop_id=shop.id, shopify_order_id=number)
    return db.session.execute(query).scalar_one_or_none()


def record_checkout(shop: Shop, payload: dict) -> AbandonedCheckout | None:
    """checkouts/create and checkouts/update: keep the latest state of each checkout."""
    token = payload.get("token")
    if not token:
        return None
    updated_at = parse_time(payload.get("updated_at") or payload.get("created_at"))
    checkout = db.session.execute(
        select(AbandonedCheckout).filter_by(shop_id=shop.id, checkout_token=str(token)[:64])
    ).scalar_one_or_none()
    if checkout is not None and checkout.checkout_updated_at >= updated_at:
        return checkout  # an older delivery arriving late
    if checkout is None:
        checkout = AbandonedCheckout(
            shop_id=shop.id, checkout_token=str(token)[:64], checkout_updated_at=updated_at
        )
        db.session.add(checkout)
    customer_id, phone = _customer(payload)
    contact = _find_contact(shop, customer_id, phone)
    checkout.contact_id = contact.id if contact else None
    checkout.shopify_customer_id = customer_id
    checkout.recovery_url = str(payload.get("abandoned_checkout_url") or "")[:1000] or None
    checkout.subtotal_price = _money(payload.get("subtotal_price"))
    checkout.currency = payload.get("currency") or payload.get("presentment_currency")
    checkout.line_item_count = len(payload.get("line_items") or [])
    checkout.checkout_updated_at = updated_at
    if payload.get("completed_at"):
        checkout.completed_at = parse_time(payload["completed_at"])
    return checkout
