"""Billing tasks: thin wrappers over services/billing.

Every minute: auto top-ups for shops below their threshold, top-ups whose charge was
lost (charged again with their own idempotency key: Shopify answers with the same
record), plans whose period ended (the next period's included credits), and pending
packs whose webhook never came. Each item commits on its own; one failure (Shopify
down, a shop without a token) is logged and the sweep goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta

from huey import crontab

from astronote.extensions import db
from astronote.models import Shop
from astronote.services.billing import packs, plans, topups
from astronote.tasks import app_periodic_task, app_task, enqueue_safely

log = logging.getLogger("astronote.billing")
PACK_RECHECK = timedelta(minutes=15)  # the webhook normally settles a pack within seconds


@app_task(retries=2, retry_delay=30)
def charge_topup(purchase_id: int) -> str:
    status = topups.charge(purchase_id)
    db.session.commit()
    return status


def _each(ids: Iterable[int], work: Callable[[int], object], what: str) -> int:
    done = 0
    for item in ids:
        try:
            work(item)
            db.session.commit()
            done += 1
        except Exception:  # noqa: BLE001 (isolate one shop's failure from the others)
            db.session.rollback()
            log.exception("billing sweep: %s %s failed", what, item)
    return done


def _auto_topup(shop_id: int) -> None:
    shop = db.session.get(Shop, shop_id)
    row = topups.prepare(shop) if shop is not None else None
    if row is not None:
        db.session.commit()  # the row (and its key) exists before Shopify is asked
        topups.charge(row.id)


@app_periodic_task(crontab(minute="*"))
def billing_sweep() -> dict:
    return {
        "topups": _each(topups.due_shop_ids(), _auto_topup, "auto top-up of shop"),
        "retried": _each(topups.stuck_ids(), topups.charge, "stuck top-up"),
        "renewed": _each(plans.due_for_renewal(), plans.renew, "plan"),
        "packs": _each(packs.stale_pending(PACK_RECHECK), packs.reconcile, "pending pack"),
    }


def enqueue_topup(purchase_id: int) -> bool:
    return enqueue_safely(charge_topup, purchase_id)
