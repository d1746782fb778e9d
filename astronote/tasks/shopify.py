"""Shopify tasks: webhook processing, customer sync, consent write-back. Thin."""

from __future__ import annotations

import logging

from astronote.extensions import db
from astronote.models import Shop
from astronote.services.shopify import consent_writeback, customer_sync, webhook_events
from astronote.tasks import app_task, enqueue_safely

log = logging.getLogger("astronote.webhooks")


def apply_webhook(event_id: int) -> str:
    """Process one event and commit; on failure count the attempt (bounded, then `dead`).

    Never raises for the event's own fault: the retries are the sweeper's, which takes the
    events with the fewest attempts first, so no Huey retries pile up on top.
    """
    try:
        webhook_events.process(event_id)
        db.session.commit()
        return webhook_events.PROCESSED
    except Exception as exc:
        db.session.rollback()
        log.warning("webhook event %s failed: %s", event_id, exc, exc_info=True)
        status = webhook_events.record_failure(event_id, exc)
        db.session.commit()
        return status


@app_task()
def process_webhook(event_id: int) -> None:
    apply_webhook(event_id)


@app_task(retries=5, retry_delay=30, retry_backoff=2)
def run_customer_sync(sync_id: int) -> None:
    customer_sync.run(sync_id)


def start_customer_sync(shop_id: int) -> int:
    """Create (or reuse) a sync record, commit it, then enqueue the run."""
    sync = customer_sync.start(db.session.get(Shop, shop_id))
    db.session.commit()
    enqueue_safely(run_customer_sync, sync.id)
    return sync.id


@app_task(retries=6, retry_delay=10, retry_backoff=3)
def push_consent(contact_id: int) -> None:
    consent_writeback.push(contact_id)
