"""Per-shop contact totals by consent state, adjusted in step with every write."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import delete, func, select

from astronote.extensions import db
from astronote.models import ConsentState, Contact, ShopContactCount
from astronote.services.sql import insert


def adjust(shop_id: int, deltas: Counter) -> None:
    """Add `deltas` (state -> +/-n) to the shop's counters in one statement."""
    rows = [
        {"shop_id": shop_id, "consent_state": state, "total": n} for state, n in deltas.items() if n
    ]
    if not rows:
        return
    table = ShopContactCount.__table__
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["shop_id", "consent_state"],
        set_={"total": table.c.total + stmt.excluded.total},
    )
    db.session.execute(stmt, rows)


def recount(shop_id: int) -> None:
    """Rebuild the counters from the contacts table (after bulk writes)."""
    db.session.execute(delete(ShopContactCount).filter_by(shop_id=shop_id))
    grouped = db.session.execute(
        select(Contact.consent_state, func.count())
        .where(Contact.shop_id == shop_id)
        .group_by(Contact.consent_state)
    ).all()
    adjust(shop_id, Counter(dict(grouped)))


def totals(shop_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(ShopContactCount.consent_state, ShopContactCount.total).filter_by(shop_id=shop_id)
    ).all()
    result = {state.value: 0 for state in ConsentState}
    result.update({state: max(total, 0) for state, total in rows})
    result["all"] = sum(result[s.value] for s in ConsentState)
    return result
