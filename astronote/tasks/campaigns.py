"""Campaign tasks: fan out batches, send them, start scheduled ones, repair stuck ones."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from huey import crontab
from sqlalchemy import select

from astronote.extensions import db
from astronote.models import Campaign, CampaignStatus, Shop, now_utc
from astronote.services.campaigns import lifecycle as campaigns
from astronote.services.credits import InsufficientCredits
from astronote.services.discounts import prepare as unique_codes
from astronote.services.sending import batches, delivery_reports, never_sent
from astronote.services.sending import single as single_send
from astronote.tasks import app_periodic_task, app_task, enqueue_safely

log = logging.getLogger("astronote.sending")
IDLE = timedelta(minutes=3)
STALE_CLAIM: timedelta | None = None  # None: derived from MITTO_READ_TIMEOUT (an override)


def _batch_size() -> int:
    return current_app.config["SMS_BATCH_SIZE"]


@app_task(retries=3, retry_delay=5)
def send_batch(campaign_id: int, attempt: int = 0) -> None:
    outcome = batches.process(campaign_id, _batch_size(), attempt)
    if outcome.retry_in is not None:
        send_batch.schedule((campaign_id, outcome.next_attempt), delay=outcome.retry_in)
    if outcome.defer_until is not None:  # quiet hours: resume when the window opens
        send_batch.schedule((campaign_id, 0), eta=outcome.defer_until)


def fan_out(campaign_id: int) -> int:
    """Enqueue one task per batch of queued rows (call after the commit).

    A campaign with unique discount codes first has them created in Shopify."""
    if unique_codes.waiting(campaign_id):
        enqueue_safely(prepare_discount_codes, campaign_id)
        return 0
    count = batches.batches_needed(campaign_id, _batch_size())
    for _ in range(count):
        enqueue_safely(send_batch, campaign_id)
    return count


@app_task(retries=2, retry_delay=30)
def prepare_discount_codes(campaign_id: int) -> None:
    """Each recipient's code into Shopify (services/discounts/prepare.py), then the send."""
    outcome = unique_codes.run(campaign_id)
    if outcome == unique_codes.READY:
        fan_out(campaign_id)
    elif outcome == unique_codes.LATER:  # bulk creations still queued at Shopify
        prepare_discount_codes.schedule((campaign_id,), delay=10)


@app_task(retries=3, retry_delay=10)
def start_scheduled(campaign_id: int) -> None:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or not campaigns.is_starting(campaign):
        return  # someone else started or cancelled it, or it was moved to a later time
    shop = db.session.get(Shop, campaign.shop_id)
    try:
        campaigns.start(shop, campaign)
        db.session.commit()
    except (InsufficientCredits, campaigns.InvalidTransition) as exc:
        db.session.rollback()
        _fail(campaign_id, exc.message)
        return
    fan_out(campaign_id)


def _fail(campaign_id: int, reason: str) -> None:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign.status == CampaignStatus.SCHEDULED:
        campaign.status, campaign.failure_reason = CampaignStatus.FAILED, reason
        campaign.finished_at = now_utc()
        db.session.commit()


@app_periodic_task(crontab(minute="*"))
def start_due_campaigns() -> int:
    due = (
        db.session.execute(
            select(Campaign.id)
            .where(Campaign.status == CampaignStatus.SCHEDULED, Campaign.scheduled_at <= now_utc())
            .limit(100)
        )
        .scalars()
        .all()
    )
    for campaign_id in due:
        start_scheduled(campaign_id)  # the status check inside makes a double start harmless
    return len(due)


@app_periodic_task(crontab(minute="*"))
def reconcile_sending() -> int:
    """Requeue what dead workers claimed, settle finished campaigns, restart idle ones."""
    stale = STALE_CLAIM or batches.stale_after(current_app.config["MITTO_READ_TIMEOUT"])
    requeued, unknown = batches.reclaim_stale(stale)
    if delivery_reports.any_unmatched():  # reports held while their rows were in flight
        delivery_reports.rematch()
        db.session.commit()
    if requeued or unknown:
        log.warning(
            "reconcile: %s claimed rows requeued, %s in-flight rows now unknown", requeued, unknown
        )
    active = (
        db.session.execute(
            select(Campaign.id).where(
                Campaign.status.in_(
                    [
                        CampaignStatus.SENDING,
                        CampaignStatus.CANCELLED,
                        CampaignStatus.COMPLETED,
                        CampaignStatus.FAILED,
                    ]
                ),
                Campaign.credits_settled.is_(False),
            )
        )
        .scalars()
        .all()
    )
    for campaign_id in active:
        finished = campaigns.finish_if_done(campaign_id)
        db.session.commit()
        if not finished and batches.is_idle(campaign_id, IDLE):
            fan_out(campaign_id)  # its tasks were lost (queue outage, crash): start again
    return len(active)


@app_periodic_task(crontab(minute="17"))
def mark_never_sent() -> int:
    """Hourly: `unknown` rows with no report past the validity period were never sent."""
    total, after = 0, 0
    while after is not None:
        marked, after = never_sent.mark(current_app.config["MITTO_VALIDITY_HOURS"], after or 0)
        db.session.commit()  # also keeps the statuses the provider's lookup told us
        total += marked
    return total


@app_task(retries=3, retry_delay=5)
def send_single(message_id: int, attempt: int = 0) -> None:
    result = single_send.send(message_id)
    if result.retry_after is not None:
        send_single.schedule(
            (message_id, attempt + 1), delay=batches.backoff(attempt, result.retry_after)
        )
    if result.defer_until is not None:  # quiet hours (automations): go when they end
        send_single.schedule((message_id, 0), eta=result.defer_until)
