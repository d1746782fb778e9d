"""Shopify webhooks: record each delivery once, then apply it by topic in a task.

A delivery that keeps failing is retried a bounded number of times (`MAX_ATTEMPTS`,
counted in `webhook_events.attempts`), then marked `dead` with its error and logged, so
an operator sees it (`flask astronote webhooks list`) and can replay it once the cause
is fixed (`flask astronote webhooks replay <id>`). Dead events keep their payload.
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import func, select

from astronote.extensions import db
from astronote.integrations.shopify.webhooks import WebhookDelivery
from astronote.models import Shop, WebhookEvent, now_utc
from astronote.services.shopify import gdpr as compliance
from astronote.services.shopify.webhook_topics import HANDLERS

log = logging.getLogger("astronote.webhooks")
TOPICS = frozenset(HANDLERS) | {"shop/redact"}
MAX_ATTEMPTS = 5
RECEIVED, PROCESSED, DEAD = "received", "processed", "dead"


def record(delivery: WebhookDelivery, raw_body: bytes) -> WebhookEvent | None:
    """Store a verified delivery; None when this webhook id was seen before (a replay)."""
    seen = db.session.execute(
        select(WebhookEvent.id).filter_by(webhook_id=delivery.webhook_id)
    ).scalar_one_or_none()
    if seen is not None:
        return None
    event = WebhookEvent(
        webhook_id=delivery.webhook_id,
        topic=delivery.topic,
        shop_domain=delivery.shop_domain,
        api_version=delivery.api_version,
        triggered_at=delivery.triggered_at,
        # PostgreSQL text cannot hold NUL; a raw NUL is never valid JSON anyway.
        payload=raw_body.decode("utf-8", errors="replace").replace("\x00", ""),
    )
    db.session.add(event)
    return event


def without_nul(value):
    """The parsed payload with NUL characters removed from every string.

    JSON may escape NUL as \\u0000, and PostgreSQL refuses NUL in text and varchar: the
    field is kept, minus the one character no column can store.
    """
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    return value


def _shop(domain: str) -> Shop | None:
    return db.session.execute(select(Shop).filter_by(shop_domain=domain)).scalar_one_or_none()


def process(event_id: int) -> None:
    """Apply one stored delivery; safe to run twice. Caller commits."""
    event = db.session.get(WebhookEvent, event_id)
    if event is None or event.status != RECEIVED:
        return
    payload = without_nul(json.loads(event.payload or "{}"))
    if not isinstance(payload, dict):
        raise ValueError(f"payload is a JSON {type(payload).__name__}, not an object")
    if event.topic == "shop/redact":
        compliance.redact_shop(event.shop_domain, event.webhook_id)
    else:
        shop = _shop(event.shop_domain)
        if shop is None:
            log.info("webhook %s for unknown shop %s ignored", event.topic, event.shop_domain)
        else:
            HANDLERS[event.topic](shop, payload, event)
    event.status, event.processed_at, event.error = PROCESSED, now_utc(), None
    event.payload = ""  # data minimisation: the payload has served its purpose


def record_failure(event_id: int, error: Exception) -> str:
    """Count a failed attempt (after the caller rolled back); `dead` once out of attempts.

    Returns the event's status. Flush only: the caller commits.
    """
    event = db.session.get(WebhookEvent, event_id)
    if event is None or event.status != RECEIVED:
        return event.status if event is not None else DEAD
    event.attempts = (event.attempts or 0) + 1
    event.error = f"{type(error).__name__}: {error}"[:2000]
    if event.attempts >= MAX_ATTEMPTS:
        event.status = DEAD
        log.error(
            "webhook event %s (%s for %s) is dead after %s attempts: %s",
            event.id,
            event.topic,
            event.shop_domain,
            event.attempts,
            event.error,
        )
    return event.status


def due_ids(received_before, limit: int = 500) -> list[int]:
    """Events still to apply, fewest attempts first: failing ones never starve new ones."""
    query = (
        select(WebhookEvent.id)
        .where(WebhookEvent.status == RECEIVED, WebhookEvent.received_at < received_before)
        .order_by(WebhookEvent.attempts, WebhookEvent.id)
        .limit(limit)
    )
    return list(db.session.execute(query).scalars())


def listing(status: str = DEAD, limit: int = 50) -> list[WebhookEvent]:
    query = (
        select(WebhookEvent).filter_by(status=status).order_by(WebhookEvent.id.desc()).limit(limit)
    )
    return list(db.session.execute(query).scalars())


def dead_count() -> int:
    query = select(func.count()).select_from(WebhookEvent).filter_by(status=DEAD)
    return db.session.execute(query).scalar_one()


def reset_for_replay(event_id: int) -> WebhookEvent:
    """Give a dead (or failing) event a fresh set of attempts. Flush only."""
    event = db.session.get(WebhookEvent, event_id)
    if event is None:
        raise LookupError(f"no webhook event {event_id}")
    if event.status == PROCESSED:
        raise ValueError(f"webhook event {event_id} was already processed")
    event.status, event.attempts = RECEIVED, 0
    return event
