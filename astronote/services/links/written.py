"""Short links for messages written before their ids were known (the automations' batch
INSERTs): each queued row gets its shortened text, segments and price in one
UPDATE … FROM VALUES, before its cost is reserved. A flow without a URL costs nothing.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, Text, select, update

from astronote.extensions import db
from astronote.models import Automation, Message, MessageStatus, Shop
from astronote.services.automations.catalogue import flow as flow_of
from astronote.services.billing import pricing
from astronote.services.links.sets import PreparedSet
from astronote.services.links.shortening import shorten
from astronote.services.links.sources import for_flow
from astronote.services.messaging.segments import segment_count
from astronote.services.sql import avoid_nested_loops, in_list, values_table

messages = Message.__table__


def shorten_written(
    shop: Shop, prepared: PreparedSet | None, rows: list[tuple[int, str, str]]
) -> dict[int, int]:
    """(message id, phone, body) rows -> message id: credits after shortening.

    Only rows whose text changed are written; the others keep their price. Flush only.
    """
    priced, changed = {}, []
    for message_id, phone, body in rows:
        text = shorten(body, message_id, prepared)
        if text == body:
            continue
        segments = segment_count(text)
        priced[message_id] = pricing.credits_for(shop, phone, segments)
        changed.append((message_id, text, segments, priced[message_id]))
    if changed:
        columns = {"id": BigInteger, "body": Text, "segments": Integer, "credits": Integer}
        v = values_table("short", columns, changed)
        avoid_nested_loops()
        db.session.execute(
            update(messages)
            .where(
                in_list(messages.c.id, [row[0] for row in changed]),
                messages.c.id == v.c.id,
                messages.c.shop_id == shop.id,
                messages.c.status == MessageStatus.QUEUED.value,
            )
            .values(body=v.c.body, segments=v.c.segments, credits=v.c.credits)
        )
    return priced


def shorten_flow(shop: Shop, automation: Automation, message_ids: list[int]) -> dict[int, int]:
    """This flow's just-written queued messages with their short links: message id ->
    credits for each message whose price may have changed (reserve those). Flush only."""
    if not message_ids or "http" not in automation.body.lower():
        return {}
    title = flow_of(automation.flow).title
    prepared = for_flow(shop, automation.id, title, automation.body, automation.discount_code)
    if prepared is None:
        return {}
    query = select(messages.c.id, messages.c.phone, messages.c.body).where(
        in_list(messages.c.id, message_ids), messages.c.shop_id == shop.id
    )
    return shorten_written(shop, prepared, [tuple(row) for row in db.session.execute(query)])
