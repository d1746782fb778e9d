"""The touches an order may be credited to: each is one or two indexed reads.

- unique code: its message id is in the code (services/discounts/codes.py); one
  primary-key read of discount_codes confirms it, joined to the shop's message;
- click: message_clicks (shop, contact, last_clicked_at) index, newest first;
- shared code and delivery: messages (shop, contact_id, sent_at) partial index, newest
  first, joined to the flow run of a one-off message (automation_runs message index).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from astronote.extensions import db
from astronote.models import (
    AttributionReason,
    Campaign,
    DiscountCode,
    Message,
    MessageClick,
    MessageStatus,
    Shop,
)
from astronote.services.discounts.codes import ALPHABET, CODE_LENGTH, ID_WIDTH, PREFIX_WIDTH
from astronote.services.reports.hooks import flows, message_source, messages

MARKETING_KINDS = ("campaign", "automation")  # never transactional, test or reply messages


@dataclass(frozen=True)
class Touch:
    message_id: int
    source_kind: str  # campaign | flow
    source_id: int
    reason: str


def _decoded_id(code: str) -> int | None:
    """The message id inside a unique code, or None if it cannot be one."""
    if len(code) != CODE_LENGTH or any(ch not in ALPHABET for ch in code):
        return None
    number = 0
    for ch in code[PREFIX_WIDTH : PREFIX_WIDTH + ID_WIDTH]:
        number = number * 32 + ALPHABET.index(ch)
    return number


def unique_code(shop: Shop, codes: list[str], ordered_at: datetime) -> Touch | None:
    for code in codes:
        message_id = _decoded_id(code)
        if message_id is None:
            continue
        row = db.session.execute(
            select(Message.id, Message.campaign_id)
            .join(DiscountCode, DiscountCode.message_id == Message.id)
            .where(
                DiscountCode.message_id == message_id,
                DiscountCode.code == code,
                Message.shop_id == shop.id,
                Message.sent_at <= ordered_at,
            )
        ).first()
        if row is not None and row.campaign_id is not None:
            return Touch(row.id, "campaign", row.campaign_id, AttributionReason.DISCOUNT_CODE)
    return None


def click(shop: Shop, contact_id: int, ordered_at: datetime) -> Touch | None:
    """The latest click before the order within the window. A message clicked again
    after the order still counts if its click before it was in the window."""
    since = ordered_at - timedelta(days=shop.attribution_click_days)
    row = db.session.execute(
        select(MessageClick.message_id, MessageClick.source_kind, MessageClick.source_id)
        .where(
            MessageClick.shop_id == shop.id,
            MessageClick.contact_id == contact_id,
            MessageClick.last_clicked_at >= since,
            MessageClick.first_clicked_at <= ordered_at,
        )
        .order_by(MessageClick.last_clicked_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    kind = "flow" if row.source_kind == "automation" else row.source_kind
    return Touch(row.message_id, kind, row.source_id, AttributionReason.CLICK)


def _latest_message(shop: Shop, contact_id: int, ordered_at: datetime, *conditions, extra=None):
    joined, kind, source = message_source(messages)
    if extra is not None:
        joined = extra(joined)
    row = db.session.execute(
        select(messages.c.id, kind.label("kind"), source.label("source"))
        .select_from(joined)
        .where(
            messages.c.shop_id == shop.id,
            messages.c.contact_id == contact_id,
            messages.c.sent_at.is_not(None),
            messages.c.sent_at <= ordered_at,
            messages.c.kind.in_(MARKETING_KINDS),
            *conditions,
        )
        .order_by(messages.c.sent_at.desc())
        .limit(1)
    ).first()
    if row is None or row.kind == "other":
        return None
    return row


def shared_code(shop: Shop, contact_id: int, codes: list[str], ordered_at) -> Touch | None:
    """The latest message the contact was sent whose campaign's or flow's code was used."""
    if not codes:
        return None
    campaigns = Campaign.__table__

    def with_campaign(joined):
        # By primary key alone: the message is the shop's, so is its campaign (a shop
        # condition here made PostgreSQL scan every campaign of the shop per message).
        return joined.outerjoin(campaigns, campaigns.c.id == messages.c.campaign_id)

    code = func.upper(func.coalesce(campaigns.c.discount_code, flows.c.discount_code))
    row = _latest_message(shop, contact_id, ordered_at, code.in_(codes), extra=with_campaign)
    if row is None:
        return None
    return Touch(row.id, row.kind, row.source, AttributionReason.DISCOUNT_CODE)


def delivery(shop: Shop, contact_id: int, ordered_at: datetime) -> Touch | None:
    """The latest marketing message delivered to the contact, sent within the window."""
    hours = shop.attribution_delivery_hours
    if not hours:
        return None  # the merchant turned delivery attribution off
    row = _latest_message(
        shop,
        contact_id,
        ordered_at,
        messages.c.sent_at >= ordered_at - timedelta(hours=hours),
        messages.c.status == MessageStatus.DELIVERED.value,
    )
    if row is None:
        return None
    return Touch(row.id, row.kind, row.source, AttributionReason.DELIVERY)


def best(shop: Shop, contact_id: int | None, codes: list[str], ordered_at) -> Touch | None:
    """The touch to credit, in the package's order of precedence."""
    touch = unique_code(shop, codes, ordered_at)
    if touch is None and contact_id is not None:
        touch = (
            click(shop, contact_id, ordered_at)
            or shared_code(shop, contact_id, codes, ordered_at)
            or delivery(shop, contact_id, ordered_at)
        )
    return touch
