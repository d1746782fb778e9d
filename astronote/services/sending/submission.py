"""Submit fenced messages to Mitto and record every possible outcome.

Each row leaves `submitting` exactly once, in one conditional UPDATE, and the
credits for it are consumed by whichever transition moved it: the worker here,
or the reconciler for a worker that died (services/sending/batches.py).

Transaction owner: each outcome commits at once, because the provider already acted.
"""

from __future__ import annotations

import logging
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, String, update
from sqlalchemy.exc import DBAPIError

from astronote.extensions import db
from astronote.integrations.mitto.client import (
    MittoAuthError,
    MittoPermanentError,
    MittoRetryableError,
    MittoUnknownOutcomeError,
    MittoValidationError,
    OutboundSms,
)
from astronote.models import Message, MessageStatus, Shop, now_utc
from astronote.services import credits
from astronote.services.reports import hooks as report_hooks
from astronote.services.sending import delivery_reports, provider
from astronote.services.sql import avoid_nested_loops, in_list, values_table

messages = Message.__table__
log = logging.getLogger("astronote.sending")
# After the provider answered, its answer exists only in this worker's memory: a
# database restart (AdminShutdown) must not throw it away, so the write is retried on
# a fresh connection. The pauses cover a PostgreSQL restart of a few seconds.
WRITE_PAUSES = (0.2, 1.0, 3.0)


@dataclass
class ChunkResult:
    """What the caller must do next: carry on, retry later, or stop the campaign."""

    retry_after: float | None = None
    stop_reason: str | None = None
    defer_until: datetime | None = None  # quiet hours: the earliest deferred row
    throttled: bool = False  # the provider answered 429: slow down (services/sending/throttle)


def settle(token: str, ids: list[int], status: MessageStatus, **values) -> list[int]:
    """Move our rows out of `submitting`; returns the ids this call actually moved."""
    if not ids:
        return []
    moved = list(
        db.session.execute(
            update(messages)
            .where(
                in_list(messages.c.id, ids),
                messages.c.claim_token == token,
                messages.c.status == MessageStatus.SUBMITTING,
            )
            .values(status=status, **values)
            .returning(messages.c.id)
        ).scalars()
    )
    if status == MessageStatus.FAILED:
        report_hooks.failed(moved)
    return moved


def _record_accepted(token: str, accepted: dict[int, str]) -> list[int]:
    """Record provider ids in one statement; returns the ids this worker recorded."""
    if not accepted:
        return []
    v = values_table("v", {"id": BigInteger, "pid": String}, list(accepted.items()))
    avoid_nested_loops()
    return list(
        db.session.execute(
            update(messages)
            .where(
                in_list(messages.c.id, list(accepted)),  # see sending.fence
                messages.c.id == v.c.id,
                messages.c.claim_token == token,
                messages.c.status == MessageStatus.SUBMITTING,
            )
            .values(
                status=MessageStatus.ACCEPTED,
                provider_message_id=v.c.pid,
                sent_at=now_utc(),
                delivery_status="accepted",
            )
            .returning(messages.c.id)
        ).scalars()
    )


def _charge(shop_id: int, campaign_id: int | None, token: str, ids, rendered) -> None:
    """Spend the reservation for messages the provider took (or may have taken)."""
    report_hooks.sent(ids, rendered)
    amount = sum(rendered[i][2] for i in ids if i in rendered)  # credits; unbillable: empty
    if amount:
        credits.consume(shop_id, amount, f"consume:{token}:{min(ids)}", campaign_id)


def durably(write) -> None:
    """Run `write()` and commit, retrying on a fresh connection if the database drops it.

    Safe to repeat: every statement in a write is fenced by the chunk's token and the
    `submitting` status, and the charge by its ledger key, so a retry after a commit
    whose answer was lost changes nothing.
    """
    for pause in (*WRITE_PAUSES, None):
        try:
            write()
            db.session.commit()
            return
        except DBAPIError as exc:
            if pause is None or not (exc.connection_invalidated or _is_disconnect(exc)):
                raise
            log.warning("result write lost its connection (%s); retrying", type(exc.orig))
            _fresh_session()
            time.sleep(pause)


def _is_disconnect(exc: DBAPIError) -> bool:
    from sqlalchemy.exc import InterfaceError, OperationalError

    return isinstance(exc, OperationalError | InterfaceError)


def _fresh_session() -> None:
    """Drop the dead connection; the next statement checks out a new one. The session
    (and the objects the caller holds) stays: only if even that fails is it replaced."""
    with suppress(Exception):  # a connection that is already gone needs no invalidating
        db.session.connection().invalidate()
    try:
        db.session.rollback()
    except DBAPIError:
        db.session.remove()


def submit(
    shop: Shop, campaign_id, token, outbound: list[OutboundSms], rendered, grant=None
) -> ChunkResult:
    """One bulk call for the fenced rows; `rendered` maps id -> (text, segments, credits) to bill.

    `grant(count)`, the rate limit, is asked after the request is encoded and right
    before it goes: False puts the rows back in the queue, never sent.
    """
    ids = [int(m.reference) for m in outbound]
    if not ids:
        return ChunkResult()
    shop_id = shop.id  # the session may be replaced (durably) after the call
    client = provider.mitto()
    try:
        prepared = client.prepare_bulk(outbound)
        if grant is not None and not grant(len(ids)):
            settle(token, ids, MessageStatus.QUEUED, claim_token=None)
            db.session.commit()
            return ChunkResult(retry_after=1.0)
        result = client.send_bulk(prepared)
    except MittoUnknownOutcomeError as exc:
        matched = getattr(exc, "matched", None) or {}
        accepted = {int(r.reference): r.message_id for r in matched.values() if r.message_id}
        error = str(exc)[:500]

        def write_unknown() -> None:
            recorded = _record_accepted(token, accepted)
            unknown = settle(token, ids, MessageStatus.UNKNOWN, error=error)
            # Charged: we may well have been billed. Only rows this worker moved, so a
            # row the reconciler already settled (and charged) is never charged twice.
            _charge(shop_id, campaign_id, token, recorded + unknown, rendered)

        durably(write_unknown)
        return ChunkResult()
    except MittoRetryableError as exc:
        settle(token, ids, MessageStatus.QUEUED, claim_token=None)
        db.session.commit()
        if exc.status == 429:  # honour Retry-After exactly: the provider knows its cap
            return ChunkResult(retry_after=exc.retry_after or 1.0, throttled=True)
        return ChunkResult(retry_after=exc.retry_after or 2.0)
    except MittoAuthError as exc:
        settle(token, ids, MessageStatus.QUEUED, claim_token=None)
        db.session.commit()
        return ChunkResult(
            stop_reason=f"Mitto refused our credentials ({exc.status}); "
            "sending is paused until the API key is fixed."
        )
    except MittoValidationError as exc:
        bad = {int(r) for r in exc.references or []} or set(ids)
        settle(token, list(bad), MessageStatus.FAILED, error=str(exc)[:500], failed_at=now_utc())
        settle(token, [i for i in ids if i not in bad], MessageStatus.QUEUED, claim_token=None)
        db.session.commit()
        return ChunkResult()
    except MittoPermanentError as exc:
        settle(token, ids, MessageStatus.FAILED, error=str(exc)[:500], failed_at=now_utc())
        db.session.commit()
        return ChunkResult()
    accepted = {int(r.reference): r.message_id for r in result.results if r.accepted}
    rejected: dict[str, list[int]] = {}
    for r in result.results:
        if not r.accepted:
            rejected.setdefault((r.error or "rejected by provider")[:500], []).append(
                int(r.reference)
            )

    def write_results() -> None:
        recorded = _record_accepted(token, accepted)
        for error, rejected_ids in rejected.items():  # one statement per distinct reason
            settle(token, rejected_ids, MessageStatus.FAILED, error=error, failed_at=now_utc())
        _charge(shop_id, campaign_id, token, recorded, rendered)

    durably(write_results)
    if delivery_reports.any_unmatched():  # reports that overtook our own bookkeeping
        delivery_reports.rematch(provider_ids=list(accepted.values()))
        db.session.commit()
    return ChunkResult()
