"""Send claimed messages through Mitto: exactly once, or visibly `unknown`.

Each chunk walks claimed → submitting (committed before the HTTP call, fenced
by the claim token) → accepted/failed/unknown. A worker that dies leaves
`claimed` rows (never sent: requeued) or `submitting` rows (maybe sent: become
`unknown`, never resent). Consent is re-checked right before every chunk.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import BigInteger, Integer, Text, or_, select, update

from astronote.extensions import db
from astronote.integrations.mitto import (
    OutboundSms,
)
from astronote.models import ConsentState, Contact, Message, MessageStatus, Shop, now_utc
from astronote.services import frequency, provider, quiet_hours
from astronote.services.rendering import opt_out_text, render, values_for
from astronote.services.segments import segment_count
from astronote.services.sql import avoid_nested_loops, values_table
from astronote.services.submission import ChunkResult, settle, submit

messages = Message.__table__
DEFAULT_SENDER = "Astronote"


@dataclass
class Claimed:
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


MARKETING = SendRules()


def claim(campaign_id: int, limit: int) -> tuple[str, list[Claimed]]:
    """Atomically take up to `limit` queued rows; two workers never get the same row."""
    token = uuid.uuid4().hex
    pick = (
        select(messages.c.id)
        .where(
            messages.c.campaign_id == campaign_id,
            messages.c.status == MessageStatus.QUEUED,
            or_(messages.c.not_before.is_(None), messages.c.not_before <= now_utc()),
        )
        .order_by(messages.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    # Two statements on purpose: as a subquery of the UPDATE, PostgreSQL may re-run the
    # LIMIT for every row it visits (a semi-join) and so take the whole campaign. The
    # SELECT locks its rows (SKIP LOCKED keeps workers apart on PostgreSQL); the
    # conditional UPDATE keeps them apart on SQLite.
    ids = list(db.session.execute(pick).scalars())
    if not ids:
        db.session.commit()
        return token, []
    stmt = (
        update(messages)
        .where(messages.c.id.in_(ids), messages.c.status == MessageStatus.QUEUED)
        .values(
            status=MessageStatus.CLAIMED,
            claim_token=token,
            claimed_at=now_utc(),
            attempts=messages.c.attempts + 1,
        )
        .returning(
            messages.c.id,
            messages.c.contact_id,
            messages.c.phone,
            messages.c.first_name,
            messages.c.last_name,
        )
    )
    rows = [Claimed(*row) for row in db.session.execute(stmt)]
    db.session.commit()
    rows.sort(key=lambda r: r.id)
    return token, rows


def requeue(token: str, ids: list[int]) -> None:
    """Give claimed (never submitted) rows back to the queue."""
    if ids:
        _mark(token, ids, status=MessageStatus.QUEUED, claim_token=None)
        db.session.commit()


def _mark(token: str, ids: list[int], **values) -> None:
    """Update rows this worker still holds as claimed (a stale claim changes nothing)."""
    if ids:
        db.session.execute(
            update(messages)
            .where(
                messages.c.id.in_(ids),
                messages.c.claim_token == token,
                messages.c.status == MessageStatus.CLAIMED,
            )
            .values(**values)
        )


def _skip_withdrawn(token: str, chunk: list[Claimed]) -> list[Claimed]:
    """Drop recipients who opted out (or were deleted) since the audience was taken."""
    contact_ids = [c.contact_id for c in chunk if c.contact_id is not None]
    allowed = (
        set(
            db.session.execute(
                select(Contact.id).where(
                    Contact.id.in_(contact_ids),
                    Contact.consent_state == ConsentState.SUBSCRIBED.value,
                )
            ).scalars()
        )
        if contact_ids
        else set()
    )
    withdrawn = [c.id for c in chunk if c.contact_id not in allowed]
    _mark(token, withdrawn, status=MessageStatus.SKIPPED, skip_reason="unsubscribed")
    return [c for c in chunk if c.contact_id in allowed]


def _fence(token: str, rendered: dict[int, tuple[str, int]]) -> set[int]:
    """Mark rows submitting (with their text), only those still ours; commit before HTTP.

    One UPDATE ... FROM VALUES for the whole chunk; RETURNING says which rows were
    still held by this claim (the reconciler may have taken stale ones back).
    """
    rows = [(i, text, segments) for i, (text, segments) in rendered.items()]
    v = values_table("v", {"id": BigInteger, "body": Text, "segments": Integer}, rows)
    avoid_nested_loops()
    fenced = set(
        db.session.execute(
            update(messages)
            .where(
                # The IN list lets the planner start from the primary key (a hash join
                # with the VALUES), whatever the table's statistics say about statuses.
                messages.c.id.in_(list(rendered)),
                messages.c.id == v.c.id,
                messages.c.claim_token == token,
                messages.c.status == MessageStatus.CLAIMED,
            )
            .values(
                status=MessageStatus.SUBMITTING,
                claimed_at=now_utc(),  # restarts the stale clock
                body=v.c.body,
                segments=v.c.segments,
            )
            .returning(messages.c.id)
        ).scalars()
    )
    db.session.commit()
    return fenced


def _apply_marketing_rules(shop: Shop, campaign_id, token: str, chunk: list[Claimed], rules):
    """Frequency cap (skip, unbilled) and quiet hours (defer, per recipient time zone)."""
    capped = set()
    if rules.frequency_cap:
        capped = frequency.recently_messaged(
            shop.id, [c.contact_id for c in chunk], shop.frequency_cap_hours, campaign_id
        )
    _mark(
        token,
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
        _mark(token, ids, status=MessageStatus.QUEUED, claim_token=None, not_before=opens)
    return ready, min(deferred) if deferred else None


def send_chunk(
    shop: Shop,
    campaign_id: int | None,
    token: str,
    chunk: list[Claimed],
    body: str,
    discount_code: str | None,
    prerendered: bool = False,
    rules: SendRules = MARKETING,
) -> ChunkResult:
    """Send one rate-limited chunk of claimed rows and record every outcome."""
    if rules.recheck_consent:
        chunk = _skip_withdrawn(token, chunk)
    chunk, defer_until = _apply_marketing_rules(shop, campaign_id, token, chunk, rules)
    db.session.commit()
    if not chunk:
        return ChunkResult(defer_until=defer_until)
    rendered = {}
    for c in chunk:
        values = values_for(shop, c.first_name, c.last_name, discount_code)
        text = body if prerendered else render(body, values, opt_out_text(shop, c.contact_id))
        rendered[c.id] = (text, segment_count(text))
    fenced = _fence(token, rendered)
    outbound = [
        OutboundSms(str(c.id), c.phone, rendered[c.id][0], shop.sender_id or DEFAULT_SENDER)
        for c in chunk
        if c.id in fenced
    ]
    # The rate limit is taken last, right before the HTTP call, so the time between the
    # grant and Mitto seeing the messages is as short (and as steady) as it can be.
    if outbound and not provider.limiter().acquire(
        provider.traffic_account(), shop.id, len(outbound)
    ):
        unsent = [int(m.reference) for m in outbound]
        settle(token, unsent, MessageStatus.QUEUED, claim_token=None)  # never sent: requeue
        db.session.commit()
        return ChunkResult(retry_after=1.0, defer_until=defer_until)
    result = submit(shop, campaign_id, token, outbound, rendered if rules.billable else {})
    result.defer_until = defer_until
    return result
