"""One batch of a campaign: take and send chunk by chunk under the rate limits.

Transaction owner: it commits between chunks, so each HTTP call follows a commit.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from astronote.extensions import db
from astronote.models import Campaign, CampaignStatus, Message, MessageStatus, Shop, now_utc
from astronote.services import credits
from astronote.services.campaigns import lifecycle as campaigns
from astronote.services.sending import chunks as sending
from astronote.services.sending import provider, throttle

log = logging.getLogger("astronote.sending")
MAX_BACKOFF = 300.0
# How long a live worker may hold a row in `submitting`: the wait for a rate-limit
# grant (SendRateLimiter.acquire's timeout), the connect and read timeouts of the one
# HTTP call, the retried result write, then a margin for a slow machine.
GRANT_WAIT_SECONDS = 30.0
CONNECT_SECONDS = 5.0
STALE_MARGIN_SECONDS = 30.0


@dataclass
class BatchOutcome:
    sent_chunks: int = 0
    retry_in: float | None = None  # seconds; the task schedules itself again
    next_attempt: int = 0  # for the backoff of that retry: 0 again once a chunk went
    finished: bool = False
    defer_until: datetime | None = None  # quiet hours: come back then


def backoff(attempt: int, hint: float | None = None) -> float:
    """Exponential backoff with full jitter, never shorter than the provider's hint."""
    delay = min(MAX_BACKOFF, 2.0 * 2**attempt) * (0.5 + random.random() / 2)
    return max(delay, hint or 0.0)


def _status(campaign_id: int) -> str:
    query = select(Campaign.status).filter_by(id=campaign_id)
    return db.session.execute(query).scalar_one()


def process(campaign_id: int, batch_size: int, attempt: int = 0) -> BatchOutcome:
    """Send up to `batch_size` queued rows, chunk by chunk; stop early when told to wait."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or campaign.status != CampaignStatus.SENDING:
        return BatchOutcome()
    shop = db.session.get(Shop, campaign.shop_id)
    if not shop.is_active:
        campaigns.pause(campaign)
        campaign.failure_reason = "Paused: the app was uninstalled."
        db.session.commit()
        return BatchOutcome()
    body, discount, campaign_shop = campaign.body, campaign.discount_code, campaign.shop_id
    outcome, left = BatchOutcome(next_attempt=attempt + 1), batch_size
    account, ceiling = provider.traffic_account(), provider.account_ceiling()
    while left > 0 and _status(campaign_id) == CampaignStatus.SENDING:  # paused meanwhile?
        wait = throttle.wait_seconds(account)  # another chunk's Retry-After, maybe
        if wait > 0:
            outcome.retry_in = wait
            return _settled(outcome)
        size = _chunk_size(throttle.rate(account, ceiling), left)
        chunk = sending.take(campaign_id, size)
        if not chunk:
            db.session.commit()
            break
        left -= len(chunk)
        result = sending.send_chunk(shop, campaign_id, chunk, body, discount)
        shop = db.session.get(Shop, campaign_shop)  # the session may be new (durably)
        if result.stop_reason:
            _stop(campaign_id, result.stop_reason)
            return outcome
        if result.retry_after is not None:
            outcome.retry_in = _retry_delay(result, 0 if outcome.sent_chunks else attempt)
            return _settled(outcome)
        if result.defer_until is not None:
            outcome.defer_until = min(filter(None, [outcome.defer_until, result.defer_until]))
        outcome.sent_chunks += 1
        outcome.next_attempt = 0  # a success resets the backoff
    outcome.finished = campaigns.finish_if_done(campaign_id)
    db.session.commit()
    return outcome


def _chunk_size(rate: int, left: int) -> int:
    """No larger than the smallest rate limit, nor than the provider lets through now."""
    return max(1, min(provider.limiter().max_chunk(), rate, left))


def _retry_delay(result, attempt: int) -> float:
    """A 429 waits exactly as long as the provider asks (the adaptive rate, not a growing
    backoff, is what gets us under its cap); anything else backs off exponentially."""
    if result.throttled:
        return result.retry_after
    return backoff(attempt, result.retry_after)


def _settled(outcome: BatchOutcome) -> BatchOutcome:
    if outcome.sent_chunks:
        outcome.next_attempt = 1  # the failure after a success is a first failure
    return outcome


def _stop(campaign_id: int, reason: str) -> None:
    db.session.execute(
        update(Campaign.__table__)
        .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.SENDING)
        .values(status=CampaignStatus.PAUSED, failure_reason=reason)
    )
    db.session.commit()
    log.error("campaign %s paused: %s", campaign_id, reason)


def batches_needed(campaign_id: int, batch_size: int) -> int:
    queued = db.session.execute(
        select(func.count()).where(
            Message.campaign_id == campaign_id, Message.status == MessageStatus.QUEUED
        )
    ).scalar_one()
    return -(-queued // batch_size)


def is_idle(campaign_id: int, quiet_for) -> bool:
    """Queued rows wait, yet no row was claimed recently: nobody is working on it."""
    table = Message.__table__
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or campaign.status != CampaignStatus.SENDING:
        return False
    last = db.session.execute(
        select(func.max(table.c.claimed_at)).where(table.c.campaign_id == campaign_id)
    ).scalar_one()
    recent = (last or campaign.started_at or now_utc()) > now_utc() - quiet_for
    return not recent and batches_needed(campaign_id, 1) > 0


def stale_after(read_timeout: float) -> timedelta:
    """Derived from the read timeout: past it no worker can still be waiting for Mitto
    (10 fixed minutes kept campaigns open long after their last message went)."""
    return timedelta(
        seconds=GRANT_WAIT_SECONDS + CONNECT_SECONDS + float(read_timeout) + STALE_MARGIN_SECONDS
    )


def reclaim_stale(older_than) -> tuple[int, int]:
    """Crash repair: stale `submitting` rows become `unknown` (they may have been sent:
    never resend). Stale `claimed` rows, left by workers of releases that claimed a
    batch before fencing it, were never sent and go back to the queue."""
    cutoff = now_utc() - older_than
    table = Message.__table__
    requeued = db.session.execute(
        update(table)
        .where(table.c.status == MessageStatus.CLAIMED, table.c.claimed_at < cutoff)
        .values(status=MessageStatus.QUEUED, claim_token=None)
    ).rowcount
    stale = db.session.execute(
        select(
            table.c.id,
            table.c.shop_id,
            table.c.campaign_id,
            # What the row costs: its price when queued (NULL on rows older than 0010).
            func.coalesce(table.c.credits, table.c.segments).label("cost"),
            table.c.claim_token,
            table.c.kind,
        )
        .where(table.c.status == MessageStatus.SUBMITTING, table.c.claimed_at < cutoff)
        .limit(10_000)
    ).all()
    for row in stale:
        marked = db.session.execute(
            update(table)
            .where(table.c.id == row.id, table.c.status == MessageStatus.SUBMITTING)
            .values(
                status=MessageStatus.UNKNOWN, error="worker stopped before the provider answered"
            )
        ).rowcount
        # We may have been billed, as for any unknown outcome; a system reply (STOP, HELP)
        # reserved nothing and is never charged (sending/single.py).
        if marked and row.cost and not row.kind.startswith("kw:"):
            # keyed by the chunk too: a row resent later is a new charge, not a replay
            key = f"unknown:{row.claim_token}:{row.id}"
            credits.consume(row.shop_id, row.cost, key, row.campaign_id)
    db.session.commit()
    return requeued, len(stale)
