"""What a campaign did, read set-based from its messages: counts, failure reasons, exports."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from astronote.extensions import db
from astronote.models import PENDING_STATES, Campaign, Message, MessageStatus, Shop, now_utc
from astronote.services import credits

PAGE_SIZE = 25
NO_REASON = "No reason given"
NOT_SENT = "not_sent"  # services/sending/never_sent.py
# Message status -> the bucket the merchant sees.
BUCKETS = {
    MessageStatus.QUEUED: "queued",
    MessageStatus.CLAIMED: "queued",
    MessageStatus.SUBMITTING: "sending",
    MessageStatus.ACCEPTED: "accepted",
    MessageStatus.DELIVERED: "delivered",
    MessageStatus.FAILED: "failed",
    MessageStatus.UNKNOWN: "unknown",
    MessageStatus.SKIPPED: "skipped",
    MessageStatus.CANCELLED: "cancelled",
}


def counts(campaign: Campaign) -> dict:
    """Every count of the campaign page, from one GROUP BY over its messages."""
    result: dict = {bucket: 0 for bucket in BUCKETS.values()}
    result.update(recipients=0, pending=0, skip_reasons={}, not_sent=0)
    query = (
        select(Message.status, Message.skip_reason, func.count())
        .where(Message.campaign_id == campaign.id)
        .group_by(Message.status, Message.skip_reason)
    )
    pending = {s.value for s in PENDING_STATES}
    for status, reason, n in db.session.execute(query):
        result["recipients"] += n
        if status == MessageStatus.SKIPPED and reason == NOT_SENT:
            result["not_sent"] += n  # found never sent: refunded, the merchant may resend
            continue
        result[BUCKETS.get(status, "unknown")] += n
        if status in pending:
            result["pending"] += n
        if status == MessageStatus.SKIPPED:
            key = reason or NO_REASON
            result["skip_reasons"][key] = result["skip_reasons"].get(key, 0) + n
    total = result["recipients"]
    # Floor, so 100% means nothing is left in flight.
    result["percent"] = (total - result["pending"]) * 100 // total if total else 0
    result["done"] = total - result["pending"]
    result["credits_spent"] = credits.consumed_for(campaign.shop_id, campaign.id)
    result["deferred"], result["deferred_until"] = deferred(campaign)
    return result


def deferred(campaign: Campaign) -> tuple[int, object]:
    """Messages held back by quiet hours, and when the last of them may go."""
    query = select(func.count(), func.max(Message.not_before)).where(
        Message.campaign_id == campaign.id,
        Message.status == MessageStatus.QUEUED,
        Message.not_before > now_utc(),
    )
    count, until = db.session.execute(query).one()
    return count, until


def failure_reasons(campaign: Campaign, limit: int = 10) -> list[tuple[str, int]]:
    """The most common provider errors among failed messages, most frequent first."""
    n = func.count().label("n")
    query = (
        select(Message.error, n)
        .where(Message.campaign_id == campaign.id, Message.status == MessageStatus.FAILED)
        .group_by(Message.error)
        .order_by(n.desc(), Message.error)
        .limit(limit)
    )
    return [(error or NO_REASON, count) for error, count in db.session.execute(query)]


def failed_rows(campaign: Campaign, after_id: int = 0, limit: int = 1000) -> list:
    """One keyset page of failed messages, for the CSV export."""
    query = (
        select(
            Message.id,
            Message.phone,
            Message.first_name,
            Message.last_name,
            Message.error,
            Message.failed_at,
        )
        .where(
            Message.campaign_id == campaign.id,
            Message.status == MessageStatus.FAILED,
            Message.id > after_id,
        )
        .order_by(Message.id)
        .limit(limit)
    )
    return list(db.session.execute(query))


@dataclass
class CampaignPage:
    campaigns: list[Campaign]
    next_cursor: int | None


def list_campaigns(
    shop: Shop, after_id: int | None = None, status: str | None = None, size: int = PAGE_SIZE
) -> CampaignPage:
    """One page of the shop's campaigns, newest first (keyset on id, not OFFSET)."""
    query = select(Campaign).where(Campaign.shop_id == shop.id)
    if status:
        query = query.where(Campaign.status == status)
    if after_id is not None:
        query = query.where(Campaign.id < after_id)
    rows = list(db.session.execute(query.order_by(Campaign.id.desc()).limit(size + 1)).scalars())
    has_more = len(rows) > size
    rows = rows[:size]
    return CampaignPage(rows, rows[-1].id if has_more else None)
