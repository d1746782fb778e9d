"""Write attributions and refunds exactly once, and the rollup with them. Flush only."""

from __future__ import annotations

from sqlalchemy import func, select

from astronote.extensions import db
from astronote.models import Order, OrderAttribution, OrderRefund, Shop, now_utc
from astronote.services.attribution import money, touches
from astronote.services.reports import rollups
from astronote.services.shopify.orders import parse_time
from astronote.services.sql import insert

attributions, refunds = OrderAttribution.__table__, OrderRefund.__table__
MAX_CODES = 10  # an order carries one or two; a hostile payload is cut short


def used_codes(payload: dict) -> list[str]:
    """`discount_codes[].code` of the order, upper-cased (Shopify codes ignore case)."""
    codes = []
    for entry in (payload.get("discount_codes") or [])[:MAX_CODES]:
        code = entry.get("code") if isinstance(entry, dict) else None
        if isinstance(code, str) and code.strip():
            codes.append(code.strip().upper()[:64])
    return codes


def attribute_order(shop: Shop, order: Order, payload: dict) -> OrderAttribution | None:
    """Credit a new order to its touch (touches.best) once; bump orders and revenue."""
    amount = money.shop_money(payload, "total_price", shop.currency)
    if not amount:
        return None  # nothing to credit (free, malformed or foreign-currency only)
    touch = touches.best(shop, order.contact_id, used_codes(payload), order.ordered_at)
    if touch is None:
        return None
    row = dict(
        shop_id=shop.id,
        shopify_order_id=order.shopify_order_id,
        order_id=order.id,
        contact_id=order.contact_id,
        message_id=touch.message_id,
        source_kind=touch.source_kind,
        source_id=touch.source_id,
        reason=touch.reason,
        amount_cents=amount,
        refunded_cents=0,
        currency=shop.currency,
        ordered_at=order.ordered_at,
        created_at=now_utc(),
    )
    stmt = (
        insert(attributions)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["shop_id", "shopify_order_id"])
    )
    if db.session.execute(stmt.returning(attributions.c.id)).first() is None:
        return None  # already counted (a redelivery, a re-emitted event, the sweeper)
    rollups.bump(
        shop.id,
        order.ordered_at,
        touch.source_kind,
        touch.source_id,
        orders=1,
        revenue_cents=amount,
    )
    attribution = _attribution(shop, order.shopify_order_id)
    early = db.session.execute(
        select(func.coalesce(func.sum(OrderRefund.amount_cents), 0)).where(
            OrderRefund.shop_id == shop.id,
            OrderRefund.shopify_order_id == order.shopify_order_id,
        )
    ).scalar_one()
    if early:  # refunds that came before their order
        _reduce(shop, attribution, int(early), order.ordered_at)
    return attribution


def _attribution(shop: Shop, shopify_order_id: int, lock: bool = False):
    query = select(OrderAttribution).filter_by(shop_id=shop.id, shopify_order_id=shopify_order_id)
    if lock:  # two refunds of one order at once: one waits, neither over-refunds
        query = query.with_for_update()
    return db.session.execute(query).scalar_one_or_none()


def _reduce(shop: Shop, attribution: OrderAttribution, amount: int, at) -> int:
    """Take `amount` off the attributed revenue, never below zero; returns what was taken."""
    taken = max(0, min(amount, attribution.amount_cents - attribution.refunded_cents))
    if taken:
        attribution.refunded_cents += taken
        rollups.bump(
            shop.id, at, attribution.source_kind, attribution.source_id, refunds_cents=taken
        )
    return taken


def _shop_refund(shop: Shop, tx) -> bool:
    """A successful refund transaction in the shop's own currency."""
    if not isinstance(tx, dict) or tx.get("kind") != "refund" or tx.get("status") != "success":
        return False
    return str(tx.get("currency") or shop.currency).upper() == shop.currency.upper()


def refund_amount(shop: Shop, payload: dict) -> int:
    """What a refund gave back, in the shop's currency: its successful refund
    transactions (in the shop's currency), else its line items' subtotal and tax."""
    total = 0
    for tx in payload.get("transactions") or []:
        if _shop_refund(shop, tx):
            total += money.minor_units(tx.get("amount"), shop.currency) or 0
    if total:
        return total
    for item in payload.get("refund_line_items") or []:
        if isinstance(item, dict):
            total += money.shop_money(item | {"currency": None}, "subtotal", shop.currency) or 0
            total += money.shop_money(item | {"currency": None}, "total_tax", shop.currency) or 0
    return total


def record_refund(shop: Shop, payload: dict) -> int:
    """refunds/create: keep the refund once; reduce its order's attribution. Returns the
    minor units taken off attributed revenue (0 for a repeat or an unattributed order)."""
    try:
        refund_id, order_id = int(payload.get("id")), int(payload.get("order_id"))
    except (TypeError, ValueError):
        return 0
    amount = refund_amount(shop, payload)
    refunded_at = parse_time(payload.get("processed_at") or payload.get("created_at"))
    stmt = insert(refunds).values(
        shop_id=shop.id,
        shopify_refund_id=refund_id,
        shopify_order_id=order_id,
        amount_cents=amount,
        refunded_at=refunded_at,
    )
    stmt = stmt.on_conflict_do_nothing(index_elements=["shop_id", "shopify_refund_id"])
    if db.session.execute(stmt.returning(refunds.c.shopify_refund_id)).first() is None:
        return 0  # this refund was counted already
    attribution = _attribution(shop, order_id, lock=True)
    if attribution is None or not amount:
        return 0
    return _reduce(shop, attribution, amount, refunded_at)
