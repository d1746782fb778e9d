"""Clicks, unique clicks and CTR per message, campaign and flow, read from the rollups.

CTR = unique clicked messages / delivered messages; while no delivery report has come
back (some routes never send one), / messages the provider accepted instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from astronote.extensions import db
from astronote.models import Campaign, LinkSourceStats, Message, MessageClick, MessageStatus
from astronote.services.links.sets import AUTOMATION, CAMPAIGN

SENT_STATES = (MessageStatus.ACCEPTED, MessageStatus.DELIVERED, MessageStatus.UNKNOWN)


@dataclass(frozen=True)
class ClickStats:
    clicks: int
    unique: int
    base: int  # the CTR's denominator: delivered, else sent
    base_kind: str  # "delivered" | "sent"

    @property
    def ctr(self) -> float | None:
        """Unique clicks per delivered (or sent) message, 0..1; None before any went."""
        return self.unique / self.base if self.base else None


def totals(shop_id: int, kind: str, source_id: int) -> tuple[int, int]:
    """(clicks, unique clicks) of one campaign or flow: one primary-key read."""
    row = db.session.execute(
        select(LinkSourceStats.clicks, LinkSourceStats.unique_clicks).where(
            LinkSourceStats.shop_id == shop_id,
            LinkSourceStats.source_kind == kind,
            LinkSourceStats.source_id == source_id,
        )
    ).one_or_none()
    return (row[0], row[1]) if row else (0, 0)


def _stats(clicks: int, unique: int, delivered: int, sent: int) -> ClickStats:
    if delivered:
        return ClickStats(clicks, unique, delivered, "delivered")
    return ClickStats(clicks, unique, sent, "sent")


def _delivered_and_sent(campaign: Campaign) -> tuple[int, int]:
    """From the campaign's status index (no table rows read)."""
    query = (
        select(Message.status, func.count())
        .where(Message.campaign_id == campaign.id, Message.status.in_(SENT_STATES))
        .group_by(Message.status)
    )
    counts = dict(db.session.execute(query).all())
    return counts.get(MessageStatus.DELIVERED, 0), sum(counts.values())


def for_campaign(campaign: Campaign, counts: dict | None = None) -> ClickStats:
    """A campaign's clicks and CTR. `counts`: the page's stats.counts(campaign), if it has
    them already (its "delivered" and "accepted" buckets), to skip the status count."""
    clicks, unique = totals(campaign.shop_id, CAMPAIGN, campaign.id)
    if counts is not None:
        delivered = counts.get("delivered", 0)
        sent = delivered + counts.get("accepted", 0) + counts.get("unknown", 0)
    else:
        delivered, sent = _delivered_and_sent(campaign)
    return _stats(clicks, unique, delivered, sent)


def for_flow(shop_id: int, automation_id: int, delivered: int, sent: int) -> ClickStats:
    """A flow's clicks and CTR; its delivered and sent counts come from the flow's own
    statistics (messages do not name their flow)."""
    clicks, unique = totals(shop_id, AUTOMATION, automation_id)
    return _stats(clicks, unique, delivered, sent)


def for_message(shop_id: int, message_id: int) -> int:
    """How often one message's links were clicked (0: never; more than 0: a unique click)."""
    found = db.session.execute(
        select(MessageClick.clicks).where(
            MessageClick.shop_id == shop_id, MessageClick.message_id == message_id
        )
    ).scalar_one_or_none()
    return found or 0
