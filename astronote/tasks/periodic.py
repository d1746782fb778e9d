"""Sweepers that make the system self-healing when a worker or the queue was down."""

from __future__ import annotations

import logging
from datetime import timedelta

from huey import crontab
from sqlalchemy import delete, select

from astronote.extensions import db
from astronote.models import (
    ContactImport,
    ImportStatus,
    Shop,
    UnmatchedDeliveryReport,
    WebhookEvent,
    now_utc,
)
from astronote.services.sending import delivery_reports
from astronote.services.shopify import tokens as shop_tokens
from astronote.services.shopify import webhook_events
from astronote.tasks import app_periodic_task, enqueue_safely
from astronote.tasks.imports import import_contacts
from astronote.tasks.shopify import apply_webhook

log = logging.getLogger("astronote.periodic")
WEBHOOK_GRACE = timedelta(minutes=2)
IMPORT_STALL = timedelta(minutes=10)


@app_periodic_task(crontab(minute="*"))
def sweep_webhook_events() -> int:
    """Apply deliveries recorded but never processed (queue outage, crashed worker).

    Fewest attempts first, so new events go ahead of failing ones; an event out of
    attempts becomes `dead` and leaves the sweep (see services/shopify/webhook_events).
    """
    ids = webhook_events.due_ids(now_utc() - WEBHOOK_GRACE)
    for event_id in ids:
        apply_webhook(event_id)
    return len(ids)


@app_periodic_task(crontab(minute="*/5"))
def sweep_stalled_imports() -> int:
    """Re-enqueue imports whose worker died; the batch checkpoint makes this safe."""
    cutoff = now_utc() - IMPORT_STALL
    ids = (
        db.session.execute(
            select(ContactImport.id).where(
                ContactImport.status.in_([ImportStatus.QUEUED, ImportStatus.RUNNING]),
                ContactImport.updated_at < cutoff,
            )
        )
        .scalars()
        .all()
    )
    for import_id in ids:
        enqueue_safely(import_contacts, import_id)
    return len(ids)


@app_periodic_task(crontab(minute="17", hour="3"))
def refresh_expiring_tokens() -> int:
    """Refresh tokens rotate on use; refresh those close to expiry so shops stay connected."""
    soon = now_utc() + timedelta(days=7)
    shops = (
        db.session.execute(
            select(Shop).where(Shop.is_active.is_(True), Shop.refresh_token_expires_at < soon)
        )
        .scalars()
        .all()
    )
    for shop in shops:
        try:
            shop_tokens.refresh(shop)
        except Exception:
            db.session.rollback()
            log.exception("token refresh failed for %s", shop.shop_domain)
    return len(shops)


@app_periodic_task(crontab(minute="41", hour="4"))
def purge_processed_webhook_events() -> int:
    cutoff = now_utc() - timedelta(days=30)
    result = db.session.execute(
        delete(WebhookEvent).where(
            WebhookEvent.status == "processed", WebhookEvent.received_at < cutoff
        )
    )
    db.session.commit()
    return result.rowcount


@app_periodic_task(crontab(minute="*"))
def rematch_delivery_reports() -> int:
    """Reports that arrived before their message id was saved get applied now."""
    matched = delivery_reports.rematch()
    db.session.execute(
        delete(UnmatchedDeliveryReport).where(
            UnmatchedDeliveryReport.received_at < now_utc() - timedelta(days=7)
        )
    )
    db.session.commit()
    return matched
