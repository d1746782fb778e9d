"""Create a campaign's unique codes in Shopify before its first message goes.

After the audience snapshot, and before `fan_out` sends anything: every message gets its
code (codes.write), the campaign's basic discount is created with the first of them,
and the rest are added 250 per `discountRedeemCodeBulkAdd`, each bulk creation polled
until done. Only then is the discount READY and the send may start.

Every step resumes: codes are keyed by message, a batch is marked submitted in the commit
after its call (a call repeated after a crash finds its codes TAKEN, which is success),
and the discount's create finds its own code taken and looks the discount up. One worker
at a time holds the lease; a dead worker's lease runs out and the reconciler's fan_out
starts the preparation again. If Shopify throttles (THROTTLED, 429, cost) or fails, the
campaign pauses with the reason on its page; Resume continues where it stopped.
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import or_, select, update

from astronote.extensions import db
from astronote.integrations.shopify import discounts as api
from astronote.integrations.shopify.admin_api import (
    AdminApiError,
    AdminApiThrottled,
    AdminApiUnavailable,
    AdminApiUserErrors,
)
from astronote.models import (
    Campaign,
    CampaignDiscount,
    CampaignStatus,
    DiscountCodeBatch,
    DiscountState,
    Shop,
    now_utc,
)
from astronote.services.billing import gateway
from astronote.services.discounts import codes
from astronote.services.shopify.tokens import ShopNotConnected

READY, PAUSED, BUSY, LATER, STOPPED = "ready", "paused", "busy", "later", "stopped"
LEASE = timedelta(minutes=2)
WINDOW = 10  # bulk calls in flight before their creations are polled
POLL_SECONDS = 1.0
MAX_POLLS = 60  # then the task comes back later instead of holding a worker
RETRIES = 2  # the client's own retries on THROTTLED / 429 / 5xx, then we pause
SLEEP = time.sleep  # tests replace it


class CodesFailed(Exception):
    pass


def waiting(campaign_id: int) -> bool:
    """Does the campaign give unique codes that are not all in Shopify yet?"""
    state = db.session.execute(
        select(CampaignDiscount.state).where(CampaignDiscount.campaign_id == campaign_id)
    ).scalar()
    return state is not None and state != DiscountState.READY


def call(shop: Shop, fn):
    """Through the shop's token (the demo shop: the simulator), with few quick retries:
    a throttled API pauses the start rather than holding a worker for minutes."""

    def tuned(client, token):
        client.max_retries, client.max_delay = RETRIES, 10.0
        client.sleep = lambda seconds: SLEEP(seconds)
        return fn(client, token)

    return gateway.call(shop, tuned)


def _take_lease(campaign_id: int) -> bool:
    table, now = CampaignDiscount.__table__, now_utc()
    won = db.session.execute(
        update(table)
        .where(
            table.c.campaign_id == campaign_id,
            or_(table.c.lease_until.is_(None), table.c.lease_until < now),
        )
        .values(lease_until=now + LEASE)
    ).rowcount
    db.session.commit()
    return bool(won)


def _renew(campaign_id: int) -> None:
    db.session.execute(
        update(CampaignDiscount.__table__)
        .where(CampaignDiscount.campaign_id == campaign_id)
        .values(lease_until=now_utc() + LEASE)
    )
    db.session.commit()


def _sending(campaign_id: int) -> bool:
    status = db.session.execute(select(Campaign.status).filter_by(id=campaign_id)).scalar()
    return status == CampaignStatus.SENDING


def run(campaign_id: int) -> str:
    """Prepare the codes as far as possible; returns READY, PAUSED, BUSY, LATER or STOPPED."""
    discount = db.session.get(CampaignDiscount, campaign_id)
    if discount is None or discount.state == DiscountState.READY:
        return READY
    if not _sending(campaign_id):
        return STOPPED
    if not _take_lease(campaign_id):
        return BUSY
    shop = db.session.get(Shop, discount.shop_id)
    try:
        outcome = _prepare(shop, campaign_id)
    except (AdminApiError, CodesFailed, ShopNotConnected) as exc:
        db.session.rollback()
        _pause(campaign_id, reason(exc, db.session.get(CampaignDiscount, campaign_id)))
        return PAUSED
    discount = db.session.get(CampaignDiscount, campaign_id)
    if outcome == READY:
        discount.state, discount.error = DiscountState.READY, None
    discount.lease_until = None
    db.session.commit()
    return outcome


def _prepare(shop: Shop, campaign_id: int) -> str:
    discount = db.session.get(CampaignDiscount, campaign_id)
    total = codes.write(discount)  # commits per chunk
    discount = db.session.get(CampaignDiscount, campaign_id)
    discount.codes_total = total
    codes.plan_batches(campaign_id, total)
    db.session.commit()
    if discount.discount_gid is None:
        _create_discount(shop, discount)
    while True:
        if not _sending(campaign_id):
            return STOPPED
        pending = _batches(campaign_id, ("pending", "failed"))
        submitted = _batches(campaign_id, ("submitted",))
        if not pending and not submitted:
            return READY
        for batch in pending:
            _submit(shop, discount, batch)
        for batch in _batches(campaign_id, ("submitted",)):
            if not _poll(shop, discount, batch):
                return LATER
        _renew(campaign_id)


def _create_discount(shop: Shop, discount: CampaignDiscount) -> None:
    campaign = db.session.get(Campaign, discount.campaign_id)
    first = codes.first_code(discount.campaign_id)
    basic = api.basic_input(
        f"SMS: {campaign.name}"[:255],
        first,
        discount.kind,
        discount.value,
        now_utc(),
        discount.ends_at,
    )
    discount.discount_gid = call(
        shop, lambda client, token: api.create_basic(client, shop.shop_domain, token, basic)
    )
    db.session.commit()


def _batches(campaign_id: int, states) -> list[DiscountCodeBatch]:
    query = (
        select(DiscountCodeBatch)
        .where(DiscountCodeBatch.campaign_id == campaign_id, DiscountCodeBatch.state.in_(states))
        .order_by(DiscountCodeBatch.batch_no)
        .limit(WINDOW)
    )
    return list(db.session.execute(query).scalars())


def _submit(shop: Shop, discount: CampaignDiscount, batch: DiscountCodeBatch) -> None:
    batch_codes = codes.batch_codes(discount.campaign_id, batch.batch_no)
    gid = call(
        shop,
        lambda client, token: api.bulk_add(
            client, shop.shop_domain, token, discount.discount_gid, batch_codes
        ),
    )
    batch.state, batch.bulk_gid = "submitted", gid
    db.session.commit()


def _poll(shop: Shop, discount: CampaignDiscount, batch: DiscountCodeBatch) -> bool:
    """Wait for one bulk creation; False if it is still queued after MAX_POLLS."""
    gid = batch.bulk_gid
    for _ in range(MAX_POLLS):
        result = call(
            shop, lambda client, token: api.bulk_creation(client, shop.shop_domain, token, gid)
        )
        if result.done:
            break
        _renew(discount.campaign_id)  # a long wait keeps the lease: no second worker
        SLEEP(POLL_SECONDS)
    else:
        return False
    # Codes an earlier attempt created (or the discount's own first code) come back TAKEN.
    real = {code: error for code, error in result.errors.items() if error != api.TAKEN}
    if result.failed and (real or len(result.errors) < result.failed):
        batch.state = "failed"
        db.session.commit()
        detail = next(iter(real.values()), "no reason given")
        raise CodesFailed(f"Shopify could not create {result.failed} of the codes ({detail}).")
    batch.state = "done"
    discount.codes_created = min(discount.codes_total, discount.codes_created + result.codes)
    db.session.commit()
    return True


def reason(exc: Exception, discount: CampaignDiscount | None) -> str:
    """What the campaign page says: why the start paused, and what Resume does."""
    done = f"{discount.codes_created:,} of {discount.codes_total:,}" if discount else "Some"
    if isinstance(exc, AdminApiThrottled):
        why = "Shopify is throttling discount code creation (too many requests just now)."
    elif isinstance(exc, AdminApiUnavailable):
        why = f"Shopify's discount API did not answer ({exc})."
    elif isinstance(exc, AdminApiUserErrors):
        messages = "; ".join(str(e.get("message", "")) for e in exc.errors)
        why = f"Shopify refused the discount: {messages}."
    elif isinstance(exc, CodesFailed):
        why = str(exc)
    elif isinstance(exc, ShopNotConnected):
        why = exc.message
    else:
        why = f"Shopify's discount API failed ({exc})."
    return (
        f"Paused before sending: {why} {done} unique codes are ready. Nothing has been "
        "sent yet; Resume to continue."
    )


def _pause(campaign_id: int, message: str) -> None:
    db.session.execute(
        update(Campaign.__table__)
        .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.SENDING)
        .values(status=CampaignStatus.PAUSED, failure_reason=message)
    )
    db.session.execute(
        update(CampaignDiscount.__table__)
        .where(CampaignDiscount.campaign_id == campaign_id)
        .values(error=message, lease_until=None)
    )
    db.session.commit()
