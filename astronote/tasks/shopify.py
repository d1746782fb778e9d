"""Shopify tasks: webhook processing, customer sync, consent write-back. Thin."""

from __future__ import annotations

from astronote.extensions import db
from astronote.models import Shop
from astronote.services.shopify import consent_writeback, customer_sync, webhook_events
from astronote.tasks import app_task, enqueue_safely


@app_task(retries=8, retry_delay=30, retry_backoff=2)
def process_webhook(event_id: int) -> None:
    webhook_events.process(event_id)
    db.session.commit()


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
