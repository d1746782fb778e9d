"""Submit fenced messages to Mitto and record every possible outcome.

Each row leaves `submitting` exactly once, in one conditional UPDATE, and the
credits for it are consumed by whichever transition moved it: the worker here,
or the reconciler for a worker that died (services/sending/batches.py).

Transaction owner: each outcome commits at once, because the provider already acted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, String, update

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
from astronote.services.sending import delivery_reports, provider
from astronote.services.sql import avoid_nested_loops, in_list, values_table

messages = Message.__table__


@dataclass
class ChunkResult:
    """What the caller must do next: carry on, retry later, or stop the campaign."""

    retry_after: float | None = None
    stop_reason: str | None = None
    defer_until: datetime | None = None  # quiet hours: the earliest deferred row


def settle(token: str, ids: list[int], status: MessageStatus, **values) -> list[int]:
    """Move our rows out of `submitting`; returns the ids this call actually moved."""
    if not ids:
        return []
    return list(
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


def _charge(shop: Shop, campaign_id: int | None, token: str, ids, rendered) -> None:
    """Spend the reservation for messages the provider took (or may have taken)."""
    amount = sum(rendered[i][1] for i in ids if i in rendered)  # unbillable: empty
    if amount:
        credits.consume(shop.id, amount, f"consume:{token}:{min(ids)}", campaign_id)


def submit(
    shop: Shop, campaign_id, token, outbound: list[OutboundSms], rendered, grant=None
) -> ChunkResult:
    """One bulk call for the fenced rows; `rendered` maps id -> (text, segments) to bill.

    `grant(count)`, the rate limit, is asked after the request is encoded and right
    before it goes: False puts the rows back in the queue, never sent.
    """
    ids = [int(m.reference) for m in outbound]
    if not ids:
        return ChunkResult()
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
        recorded = _record_accepted(token, accepted)
        unknown = settle(token, ids, MessageStatus.UNKNOWN, error=str(exc)[:500])
        # Charged: we may well have been billed. Only rows this worker moved, so a row
        # the reconciler already settled (and charged) is never charged twice.
        _charge(shop, campaign_id, token, recorded + unknown, rendered)
        db.session.commit()
        return ChunkResult()
    except MittoRetryableError as exc:
        settle(token, ids, MessageStatus.QUEUED, claim_token=None)
        db.session.commit()
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
    recorded = _record_accepted(token, accepted)
    rejected: dict[str, list[int]] = {}
    for r in result.results:
        if not r.accepted:
            rejected.setdefault((r.error or "rejected by provider")[:500], []).append(
                int(r.reference)
            )
    for error, rejected_ids in rejected.items():  # one statement per distinct reason
        settle(token, rejected_ids, MessageStatus.FAILED, error=error, failed_at=now_utc())
    _charge(shop, campaign_id, token, recorded, rendered)
    db.session.commit()
    if delivery_reports.any_unmatched():  # reports that overtook our own bookkeeping
        delivery_reports.rematch(provider_ids=list(accepted.values()))
        db.session.commit()
    return ChunkResult()
