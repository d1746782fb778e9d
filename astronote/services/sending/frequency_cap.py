"""Smart sending: skip contacts who got a marketing message within the shop's cap."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select

from astronote.extensions import db
from astronote.models import Message, MessageStatus, now_utc
from astronote.services.sql import in_list

SENT = (MessageStatus.ACCEPTED, MessageStatus.DELIVERED, MessageStatus.UNKNOWN)
# Marketing: campaigns and automations count toward the cap (transactional, test and
# replies never do). Automation messages have no campaign id.
MARKETING = ("campaign", "automation")


def recently_messaged(
    shop_id: int, contact_ids: list[int], hours: int, campaign_id: int | None
) -> set[int]:
    """Contacts sent a marketing message (an automation, or another campaign than
    `campaign_id`) in the last `hours`."""
    if not hours or not contact_ids:
        return set()
    since = now_utc() - timedelta(hours=hours)
    query = select(Message.contact_id).where(
        Message.shop_id == shop_id,
        in_list(Message.contact_id, contact_ids),
        Message.kind.in_(MARKETING),
        Message.sent_at >= since,
        Message.status.in_([s.value for s in SENT]),
    )
    if campaign_id is not None:
        # NULL != id is NULL in SQL: automation messages must be kept explicitly.
        query = query.where(or_(Message.campaign_id.is_(None), Message.campaign_id != campaign_id))
    return set(db.session.execute(query.distinct()).scalars())
