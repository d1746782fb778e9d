"""Shopify customer tags on contacts: from the sync, and from `customer.tags_added` /
`customer.tags_removed` (since API 2025-01 the customer webhooks no longer carry `tags`).

Tags are normalised like hand-entered ones (lower case, single spaces); a Shopify tag our
tag rules cannot hold is left out rather than failing the whole customer.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from astronote.extensions import db
from astronote.models import Contact, ContactTag, Shop
from astronote.services.contacts.fields import MAX_TAGS, TAG, TAG_SEPARATORS


def normalise(values) -> list[str]:
    """Shopify's tag list (or comma-separated string) as contact tags."""
    if isinstance(values, str):
        values = TAG_SEPARATORS.split(values)
    if not isinstance(values, list):
        return []
    tags: list[str] = []
    for value in values:
        tag = " ".join(str(value).split()).lower() if isinstance(value, str) else ""
        if tag and TAG.match(tag) and tag not in tags:
            tags.append(tag)
    return tags[:MAX_TAGS]


def replace(shop: Shop, tags_by_contact: dict[int, list[str]]) -> None:
    """Set each contact's tags to exactly these (one delete, one insert)."""
    if not tags_by_contact:
        return
    db.session.execute(
        delete(ContactTag).where(
            ContactTag.shop_id == shop.id, ContactTag.contact_id.in_(list(tags_by_contact))
        )
    )
    rows = [
        {"contact_id": contact_id, "shop_id": shop.id, "tag": tag}
        for contact_id, tags in tags_by_contact.items()
        for tag in tags
    ]
    if rows:
        db.session.execute(ContactTag.__table__.insert(), rows)


def _contact_ids(shop: Shop, customer_id: int) -> list[int]:
    query = select(Contact.id).where(
        Contact.shop_id == shop.id, Contact.shopify_customer_id == customer_id
    )
    return list(db.session.execute(query).scalars())


def add(shop: Shop, customer_id: int, tags: list[str]) -> int:
    """Add tags to the customer's contacts (keeping at most MAX_TAGS); returns contacts hit."""
    contact_ids = _contact_ids(shop, customer_id)
    for contact_id in contact_ids:
        held = set(
            db.session.execute(
                select(ContactTag.tag).filter_by(shop_id=shop.id, contact_id=contact_id)
            ).scalars()
        )
        room = max(MAX_TAGS - len(held), 0)
        new = [t for t in tags if t not in held][:room]
        if new:
            db.session.execute(
                ContactTag.__table__.insert(),
                [{"contact_id": contact_id, "shop_id": shop.id, "tag": t} for t in new],
            )
    return len(contact_ids)


def remove(shop: Shop, customer_id: int, tags: list[str]) -> int:
    contact_ids = _contact_ids(shop, customer_id)
    if contact_ids and tags:
        db.session.execute(
            delete(ContactTag).where(
                ContactTag.shop_id == shop.id,
                ContactTag.contact_id.in_(contact_ids),
                ContactTag.tag.in_(tags),
            )
        )
    return len(contact_ids)
