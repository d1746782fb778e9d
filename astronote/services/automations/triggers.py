"""Turn events into scheduled runs, once per flow, trigger and step. Flush only.

Every entry point inserts with ON CONFLICT DO NOTHING on the run's unique key, so a
webhook redelivery, a replayed event or two racing workers leave exactly one run. A
flow switched off when its trigger arrives schedules nothing. Runs due now are noted
in the session, and `waking` wakes the dispatcher once the caller has committed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from astronote.extensions import db
from astronote.models import (
    AbandonedCheckout,
    Automation,
    AutomationRun,
    Order,
    RunStatus,
    Shop,
    now_utc,
)
from astronote.services.automations.waking import SESSION_KEY  # registers the wake-up
from astronote.services.shopify.orders import parse_time
from astronote.services.sql import insert

runs = AutomationRun.__table__
DUE_SOON = timedelta(minutes=1)


def enabled_flow(shop_id: int, flow: str) -> Automation | None:
    query = select(Automation).filter_by(shop_id=shop_id, flow=flow, enabled=True)
    return db.session.execute(query).scalar_one_or_none()


def schedule(
    shop_id: int,
    flow: str,
    trigger_key: str,
    contact_id: int | None,
    starts_at: datetime | None = None,
    context: dict | None = None,
    step: int = 0,
    push_back: bool = False,
) -> bool:
    """One run for this trigger, due the flow's delay after `starts_at`; True if new.

    `push_back`: a later event for the same trigger (a checkout updated again) moves a
    run that has not gone yet to its new due time, with the new context.
    """
    automation = enabled_flow(shop_id, flow)
    if automation is None or contact_id is None:
        return False
    now = now_utc()
    due_at = (starts_at or now) + timedelta(minutes=automation.delay_minutes)
    stmt = insert(runs).values(
        shop_id=shop_id,
        flow=flow,
        trigger_key=trigger_key[:120],
        step=step,
        contact_id=contact_id,
        due_at=due_at,
        status=RunStatus.SCHEDULED.value,
        context=context or {},
        created_at=now,
    )
    key = ["shop_id", "flow", "trigger_key", "step"]
    if push_back:
        later = (runs.c.status == RunStatus.SCHEDULED.value) & (
            runs.c.due_at < stmt.excluded.due_at
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=key,
            set_={"due_at": stmt.excluded.due_at, "context": stmt.excluded.context},
            where=later,
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=key)
    # RETURNING, not rowcount: psycopg reports -1 for INSERT … ON CONFLICT.
    created = db.session.execute(stmt.returning(runs.c.id)).first() is not None
    if created and due_at <= now + DUE_SOON:
        note_due(shop_id)
    return created


def note_due(shop_id: int) -> None:
    """Wake the dispatcher for this shop once the current transaction commits."""
    db.session.info.setdefault(SESSION_KEY, set()).add(shop_id)


def welcome(shop_id: int, contact_id: int) -> bool:
    """A contact became subscribed: welcomed once, whatever the source and however often."""
    return schedule(shop_id, "welcome", f"contact:{contact_id}", contact_id)


def _money(amount, currency: str | None) -> str:
    if amount is None:
        return ""
    return f"{amount:,.2f} {currency}".strip() if currency else f"{amount:,.2f}"


def order_placed(shop: Shop, order: Order) -> None:
    """orders/create: the confirmation now, the cross-sell the flow's delay later."""
    context = {
        "order_number": order.name or f"#{order.shopify_order_id}",
        "order_total": _money(order.total_price, order.currency or shop.currency),
    }
    key = f"order:{order.shopify_order_id}"
    schedule(shop.id, "order_confirmation", key, order.contact_id, context=context)
    schedule(shop.id, "cross_sell", key, order.contact_id, order.ordered_at, context)


def checkout_abandoned(shop: Shop, checkout: AbandonedCheckout) -> None:
    """checkouts/create|update with a phone: one reminder per checkout, after the delay.

    The delay counts from the checkout's last activity: an update moves a reminder that
    has not gone yet. Whether it still goes (completed? ordered since? US 48-hour rule?)
    is decided when it is due, by the dispatcher; here it is only scheduled, once.
    """
    if checkout.completed_at is not None or not checkout.recovery_url:
        return
    abandoned_at = min(checkout.checkout_updated_at, now_utc())  # a clock ahead of ours
    context = {
        "checkout_url": checkout.recovery_url,
        "checkout_token": checkout.checkout_token,
        "abandoned_at": abandoned_at.isoformat(),
    }
    key = f"checkout:{checkout.checkout_token}"
    contact_id = checkout.contact_id
    schedule(shop.id, "abandoned_checkout", key, contact_id, abandoned_at, context, push_back=True)


def _first_text(payload: dict, name: str) -> str:
    """The first of `<name>s` (a list), else `<name>`; text, whatever the payload holds."""
    many = payload.get(f"{name}s")
    value = many[0] if isinstance(many, list) and many else payload.get(name)
    return value if isinstance(value, str) else ""


SHIPMENT_WORDS = {"shipped": "is on its way", "delivered": "has been delivered"}


class OrderNotYetKnown(RuntimeError):
    """A fulfilment delivered before its order: the webhook is retried (then dead)."""


def fulfilled(shop: Shop, order: Order | None, fulfillment: dict, delivered: bool) -> None:
    """fulfillments/create (shipped, or delivered at once) and /update (delivered): the
    shipping update per stage; the review request counts from the fulfilment's creation
    (scheduled by whichever delivery arrives first: its key is the order's)."""
    if order is None:
        if any(enabled_flow(shop.id, f) for f in ("shipping_update", "review_request")):
            # Shopify does not order its deliveries: retried by the webhook sweeper until
            # orders/create is in (MAX_ATTEMPTS, then dead with this message).
            raise OrderNotYetKnown(
                f"order {fulfillment.get('order_id')} of fulfillment {fulfillment.get('id')} "
                "not recorded yet (orders/create not processed): retried until it is"
            )
        return
    stage = "delivered" if delivered else "shipped"
    tracking = _first_text(fulfillment, "tracking_number")[:100]
    context = {
        "order_number": order.name or f"#{order.shopify_order_id}",
        "tracking_number": tracking,
        "tracking_url": _first_text(fulfillment, "tracking_url")[:500],
        "shipment_status": SHIPMENT_WORDS[stage],
    }
    schedule(
        shop.id,
        "shipping_update",
        _shipment_key(order, fulfillment, tracking, stage),
        order.contact_id,
        context=context,
    )
    review_key = f"order:{order.shopify_order_id}"
    starts = parse_time(fulfillment.get("created_at"))
    schedule(shop.id, "review_request", review_key, order.contact_id, starts, context)


def _shipment_key(order: Order, fulfillment: dict, tracking: str, stage: str) -> str:
    """Per fulfilment and stage. Shopify always sends an `id`; without one (a malformed
    payload) the order and tracking number stand in, never a shared `None` key."""
    if fulfillment.get("id") is not None:
        return f"fulfillment:{fulfillment['id']}:{stage}"
    return f"fulfillment:order-{order.shopify_order_id}:{tracking or '-'}:{stage}"[:120]
