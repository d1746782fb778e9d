"""Send queued messages through Mitto: exactly once, or visibly `unknown`.

A chunk is taken and fenced in one transaction: its queued rows are locked
(FOR UPDATE SKIP LOCKED keeps workers apart on PostgreSQL), checked (consent,
frequency cap, quiet hours), rendered, and moved to `submitting` with their
text and this chunk's token by one conditional UPDATE (which keeps workers
apart on SQLite, where the row that a rival moved first is simply not ours).
That commit precedes the HTTP call. A worker that dies before it leaves its
rows queued; after it, `submitting` (maybe sent), which the reconciler turns
`unknown` and never resends. Each row then leaves `submitting` exactly once
(services/sending/submission.py).

Transaction owner: the fence commits before the HTTP call.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import BigInteger, Integer, Text, or_, select, update

from astronote.extensions import db
from astronote.integrations.mitto.client import OutboundSms
from astronote.models import ConsentState, Contact, Message, MessageStatus, Shop, now_utc
from astronote.services import links
from astronote.services.billing import pricing
from astronote.services.discounts import codes as unique_codes
from astronote.services.messaging.rendering import opt_out_text, render, values_for
from astronote.services.messaging.segments import segment_count
from astronote.services.sending import frequency_cap as frequency
from astronote.services.sending import provider, quiet_hours, senders, throttle
from astronote.services.sending.submission import ChunkResult, submit
from astronote.services.sql import avoid_nested_loops, in_list, values_table

messages = Message.__table__
DEFAULT_SENDER = "Astronote"
RECIPIENT_COLUMNS = (
    messages.c.id,
    messages.c.contact_id,
    messages.c.phone,
    messages.c.first_name,
    messages.c.last_name,
)


@dataclass
class Recipient:
    """A queued message row, locked by this transaction until its chunk is fenced."""

    id: int
    contact_id: int | None
    phone: str
    first_name: str | None
    last_name: str | None


@dataclass(frozen=True)
class SendRules:
    """Which guards apply. Campaigns get all of them; system replies (STOP confirmations)
    none but the rate limits; tests and transactional messages something in between."""

    recheck_consent: bool = True
    frequency_cap: bool = True
    quiet_hours: bool = True
    billable: bool = True
    # Transactional messages (order, shipping) need only a contact who has not opted out.
    marketing_consent: bool = True


MARKETING = SendRules()


def _lock_queued(condition, limit: int) -> list[Recipient]:
    query = (
        select(*RECIPIENT_COLUMNS)
        .where(condition, messages.c.status == MessageStatus.QUEUED)
        .order_by(messages.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [Recipient(*row) for row in db.session.execute(query)]


def take(campaign_id: int, limit: int) -> list[Recipient]:
    """Lock up to `limit` of the campaign's due queued rows; send_chunk commits."""
    due = or_(messages.c.not_before.is_(None), messages.c.not_before <= now_utc())
    return _lock_queued((messages.c.campaign_id == campaign_id) & due, limit)


def take_message(message_id: int) -> list[Recipient]:
    """Lock one queued one-off message (or none, if another worker has it or it went)."""
    return _lock_queued(messages.c.id == message_id, 1)


def _mark(ids: list[int], **values) -> None:
    """Update rows that are still queued (a rival worker's row changes nothing)."""
    if ids:
        db.session.execute(
            update(messages)
            .where(in_list(messages.c.id, ids), messages.c.status == MessageStatus.QUEUED)
            .values(**values)
        )


def _skip_withdrawn(chunk: list[Recipient], marketing: bool = True) -> list[Recipient]:
    """Drop recipients who opted out (or were deleted) since the audience was taken."""
    contact_ids = [c.contact_id for c in chunk if c.contact_id is not None]
    allowed = set()
    if contact_ids:
        consent = Contact.consent_state
        permitted = (
            consent == ConsentState.SUBSCRIBED.value
            if marketing
            else consent != ConsentState.UNSUBSCRIBED.value
        )
        query = select(Contact.id).where(in_list(Contact.id, contact_ids), permitted)
        allowed = set(db.session.execute(query).scalars())
    withdrawn = [c.id for c in chunk if c.contact_id not in allowed]
    _mark(withdrawn, status=MessageStatus.SKIPPED, skip_reason="unsubscribed")
    return [c for c in chunk if c.contact_id in allowed]


def fence(token: str, rendered: dict[int, tuple[str, int, int]]) -> set[int]:
    """Move the rendered rows to `submitting` with their text, segments and price in
    credits (billing/pricing.py: what this message costs, never re-priced later), then
    commit (before HTTP).

    One UPDATE ... FROM the per-row values; RETURNING says which rows were still
    queued, which on SQLite a rival worker may have fenced first.
    """
    if not rendered:
        db.session.commit()
        return set()
    rows = [(i, *values) for i, values in rendered.items()]
    columns = {"id": BigInteger, "body": Text, "segments": Integer, "credits": Integer}
    v = values_table("v", columns, rows)
    avoid_nested_loops()
    fenced = set(
        db.session.execute(
            update(messages)
            .where(
                # The id list lets the planner start from the primary key (a hash join
                # with the values), whatever the table's statistics say about statuses.
                in_list(messages.c.id, list(rendered)),
                messages.c.id == v.c.id,
                messages.c.status == MessageStatus.QUEUED,
            )
            .values(
                status=MessageStatus.SUBMITTING,
                claim_token=token,
                claimed_at=now_utc(),  # starts the stale clock
                attempts=messages.c.attempts + 1,
                body=v.c.body,
                segments=v.c.segments,
                credits=v.c.credits,
            )
            .returning(messages.c.id)
        ).scalars()
    )
    db.session.commit()
    return fenced


def _apply_marketing_rules(shop: Shop, campaign_id, chunk: list[Recipient], rules):
    """Frequency cap (skip, unbilled) and quiet hours (defer, per recipient time zone)."""
    capped = set()
    if rules.frequency_cap:
        capped = frequency.recently_messaged(
            shop.id, [c.contact_id for c in chunk], shop.frequency_cap_hours, campaign_id
        )
    _mark(
        [c.id for c in chunk if c.contact_id in capped],
        status=MessageStatus.SKIPPED,
        skip_reason="frequency_cap",
    )
    now, ready, deferred = now_utc(), [], {}
    for c in chunk:
        if c.contact_id in capped:
            continue
        if not rules.quiet_hours:
            ready.append(c)
            continue
        zones = quiet_hours.zones_for(c.phone, shop.timezone)
        opens = quiet_hours.next_allowed(now, zones, shop.quiet_start, shop.quiet_end)
        if opens is None:
            ready.append(c)
        else:
            deferred.setdefault(opens, []).append(c.id)
    for opens, ids in deferred.items():
        _mark(ids, not_before=opens)
    return ready, min(deferred) if deferred else None


def send_chunk(
    shop: Shop,
    campaign_id: int | None,
    chunk: list[Recipient],
    body: str,
    discount_code: str | None,
    prerendered: bool = False,
    rules: SendRules = MARKETING,
    prices: dict[int, int] | None = None,
) -> ChunkResult:
    """Send one rate-limited chunk of taken rows and record every outcome. `prices`: the
    credits already reserved per row (one-off messages, priced when queued): kept, so a
    price change between queueing and sending never parts the consumption from them."""
    # A campaign with unique codes: each row's own code, and no row goes without one.
    own_codes = unique_codes.for_messages(campaign_id, [c.id for c in chunk])
    if own_codes is not None and any(c.id not in own_codes for c in chunk):
        return ChunkResult(stop_reason=unique_codes.MISSING)  # rows stay queued
    if rules.recheck_consent:
        chunk = _skip_withdrawn(chunk, rules.marketing_consent)
    chunk, defer_until = _apply_marketing_rules(shop, campaign_id, chunk, rules)
    # The campaign's URLs, once per chunk; each recipient's own short links are derived
    # from the message id after rendering, so the segments and the price count them.
    prepared = None
    if campaign_id is not None and not prerendered and chunk:
        prepared = links.for_campaign(shop, campaign_id, body, discount_code, own_codes is not None)
    rendered = {}
    for c in chunk:
        code = own_codes[c.id] if own_codes is not None else discount_code
        values = values_for(shop, c.first_name, c.last_name, code)
        text = body if prerendered else render(body, values, opt_out_text(shop, c.contact_id))
        text = links.shorten(text, c.id, prepared)
        segments = segment_count(text)
        price = (prices or {}).get(c.id)
        if price is None:
            price = pricing.credits_for(shop, c.phone, segments)
        rendered[c.id] = (text, segments, price)
    token = uuid.uuid4().hex
    fenced = fence(token, rendered)
    outbound = [
        OutboundSms(str(c.id), c.phone, rendered[c.id][0], senders.sender_for(shop, c.phone))
        for c in chunk
        if c.id in fenced
    ]
    # The rate limit is taken last, right before the HTTP call, so the time between the
    # grant and Mitto seeing the messages is as short (and as steady) as it can be.
    limiter, account = provider.limiter(), provider.traffic_account()
    ceiling = provider.account_ceiling()
    adaptive = throttle.rate(account, ceiling)

    def grant(count: int) -> bool:
        if adaptive >= ceiling:
            return limiter.acquire(account, shop.id, count)
        # A chunk sized just before another worker slowed down goes at its own size.
        return limiter.acquire(account, shop.id, count, account_limit=max(adaptive, count))

    billed = rendered if rules.billable else {}
    result = submit(shop, campaign_id, token, outbound, billed, grant=grant)
    result.defer_until = defer_until
    if result.throttled:
        throttle.throttled(account, len(outbound), ceiling, result.retry_after)
    elif outbound and result.retry_after is None and result.stop_reason is None:
        throttle.succeeded(account, ceiling)
    return result
