"""customers/redact, beyond the contact row: what we sent to and heard from the customer.

Deleting a contact leaves its messages (they keep its old id, migration 0007),
with the number, the names and the rendered text. Erasure strips those from every
message to the customer's contacts or numbers and skips any still queued (a
one-off message gets its reserved credits back), deletes their replies and
storefront form submissions and their clicks on short links, blanks their flow runs'
placeholder values (automation_runs.context), and keeps only what the
merchant's books need: that a message existed, its status and its cost.
"""

from __future__ import annotations

from sqlalchemy import delete, func, or_, select, update

from astronote.extensions import db
from astronote.models import (
    AutomationRun,
    InboundMessage,
    LinkClick,
    Message,
    MessageClick,
    MessageStatus,
    Shop,
    StorefrontSubmission,
)
from astronote.services.sending import single as single_send
from astronote.services.sql import in_list

REDACTED = "redacted"
messages = Message.__table__


def _delete(model, shop_id: int, *matches) -> int:
    return db.session.execute(delete(model).where(model.shop_id == shop_id, or_(*matches))).rowcount


def erase(shop: Shop, contact_ids: list[int], phones: list[str], emails: list[str]) -> dict:
    """Erase the customer's messages and submissions in this shop; returns counts."""
    shop_id = shop.id
    to_them = messages.c.shop_id == shop_id
    to_them &= or_(in_list(messages.c.contact_id, contact_ids), in_list(messages.c.phone, phones))
    unsent = db.session.execute(
        update(messages)
        .where(to_them, messages.c.status == MessageStatus.QUEUED)
        .values(status=MessageStatus.SKIPPED, skip_reason="redacted")
        .returning(
            messages.c.id,
            messages.c.campaign_id,
            # What it reserved: its price in credits (NULL on rows older than 0010).
            func.coalesce(messages.c.credits, messages.c.segments).label("cost"),
            messages.c.kind,
        )
    ).all()
    for row in unsent:  # a campaign's leftover reservation is released when it settles
        if row.campaign_id is None:
            single_send.release(shop, row.id, row.cost, row.kind)
    # Their clicks (who clicked what, when) go; the per-source totals keep only counts.
    theirs = select(messages.c.id).where(to_them).scalar_subquery()
    clicked = [
        _delete(
            model, shop_id, model.message_id.in_(theirs), in_list(model.contact_id, contact_ids)
        )
        for model in (LinkClick, MessageClick)
    ]
    # Their flow runs keep their outcome; the placeholder values (names, order details,
    # links) go. Matched before the messages lose their contact id below.
    runs = AutomationRun.__table__
    db.session.execute(
        update(runs)
        .where(
            runs.c.shop_id == shop_id,
            or_(in_list(runs.c.contact_id, contact_ids), runs.c.message_id.in_(theirs)),
        )
        .values(context={})
    )
    redacted = db.session.execute(
        update(messages)
        .where(to_them)
        .values(phone=REDACTED, first_name=None, last_name=None, body=None, contact_id=None)
    ).rowcount
    replies = _delete(
        InboundMessage,
        shop_id,
        in_list(InboundMessage.contact_id, contact_ids),
        in_list(InboundMessage.from_number, phones),
    )
    forms = _delete(
        StorefrontSubmission,
        shop_id,
        in_list(StorefrontSubmission.phone, phones),
        in_list(StorefrontSubmission.email, emails),
    )
    counts = {"messages": redacted, "unsent": len(unsent), "replies": replies, "forms": forms}
    return {**counts, "clicks": clicked[0]}
