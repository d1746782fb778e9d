"""Apply Mitto delivery reports in bulk: idempotent, order-proof, nothing dropped.

Final states are sticky: an in-flight report after delivered/failed changes
nothing, and between two final reports the newer event time wins. Reports for
ids we do not know yet are stored and matched again later.

A provider id never changes once set. A report's `reference` (our message id,
echoed back) may only find a message that has no provider id yet: otherwise any
report could re-point another message and leave its genuine report unmatched.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import bindparam, delete, or_, select, update

from astronote.extensions import db
from astronote.integrations.mitto.callbacks import DeliveryReport
from astronote.models import Message, MessageStatus, UnmatchedDeliveryReport, now_utc
from astronote.services.reports import hooks as report_hooks
from astronote.services.sql import in_list

messages = Message.__table__
FINAL = {"delivered": MessageStatus.DELIVERED, "failed": MessageStatus.FAILED}
OPEN = (MessageStatus.ACCEPTED, MessageStatus.UNKNOWN)


def _targets(reports: list[DeliveryReport]) -> dict[str, tuple]:
    """Current (id, status, report_at) per provider id, plus rows without one by reference."""
    ids = [r.message_id for r in reports]
    refs = [r.reference_id for r in reports if r.reference_id is not None]
    query = select(
        messages.c.id, messages.c.provider_message_id, messages.c.status, messages.c.report_at
    ).where(or_(in_list(messages.c.provider_message_id, ids), in_list(messages.c.id, refs)))
    found: dict[str, tuple] = {}
    for row in db.session.execute(query):
        if row.provider_message_id:
            found[row.provider_message_id] = (row.id, row.status, row.report_at)
        else:
            found[f"ref:{row.id}"] = (row.id, row.status, row.report_at)
    return found


def _key(report: DeliveryReport, found: dict) -> str:
    return report.message_id if report.message_id in found else f"ref:{report.reference_id}"


def _decide(current: str, current_at: datetime | None, report: DeliveryReport, at: datetime):
    """The status this report moves the message to, or None to leave it alone."""
    target = FINAL.get(report.state)
    if target is None:
        return None  # in flight or unknown words: recorded raw only while still open
    if current in (MessageStatus.DELIVERED, MessageStatus.FAILED):
        if current == target or (current_at and at <= current_at):
            return None
    elif current not in OPEN:
        return None
    return target


def apply(reports: list[DeliveryReport], found: dict | None = None) -> dict[str, int]:
    """Apply a batch of reports; returns counts by outcome. Caller commits.

    `found`: the reports' targets, when the caller has just looked them up (_targets)."""
    reports = [r for r in reports if r.message_id]
    found = _targets(reports) if found is None else found
    updates: dict[int, dict] = {}
    counts = {"applied": 0, "ignored": 0, "unmatched": 0}
    for report in sorted(reports, key=lambda r: r.occurred_at or now_utc()):
        at = report.occurred_at or now_utc()
        key = _key(report, found)
        if key not in found:
            _keep_unmatched(report, at)
            counts["unmatched"] += 1
            continue
        row_id, status, status_at = found[key]
        if status == MessageStatus.SUBMITTING:
            # The send is still being recorded (or its worker died). Applying now would
            # skip the charge that leaving `submitting` carries: keep it for the rematch.
            _keep_unmatched(report, at)
            counts["unmatched"] += 1
            continue
        target = _decide(status, status_at, report, at)
        if target is None:
            counts["ignored"] += 1
            continue
        if key.startswith("ref:"):
            # This report gives the row its provider id: later reports in the batch must
            # match by that id, and another id naming the same reference no longer can.
            del found[key]
            key = report.message_id
        found[key] = (row_id, target, at)
        updates[row_id] = _values(row_id, report, target, at)
        counts["applied"] += 1
    if updates:
        report_hooks.delivery_reports(updates.values())  # before: it reads the old status
        db.session.connection().execute(
            update(messages)
            .where(
                messages.c.id == bindparam("b_id"),
                # Never re-point: a concurrent request may have set another id meanwhile.
                or_(
                    messages.c.provider_message_id.is_(None),
                    messages.c.provider_message_id == bindparam("b_pid"),
                ),
            )
            .values(
                status=bindparam("b_status"),
                delivery_status=bindparam("b_raw"),
                report_at=bindparam("b_at"),
                delivered_at=bindparam("b_delivered"),
                failed_at=bindparam("b_failed"),
                error=bindparam("b_error"),
                provider_message_id=bindparam("b_pid"),
            ),
            list(updates.values()),
        )
    return counts


def _values(row_id: int, report: DeliveryReport, target, at) -> dict:
    delivered = target == MessageStatus.DELIVERED
    return {
        "b_id": row_id,
        "b_status": target.value,
        "b_raw": (report.raw_status or "")[:32],
        "b_at": at,
        "b_delivered": at if delivered else None,
        "b_failed": None if delivered else at,
        "b_error": None if delivered else (report.error or f"Delivery {report.raw_status}")[:500],
        "b_pid": report.message_id,
    }


def any_unmatched() -> bool:
    query = select(UnmatchedDeliveryReport.id).limit(1)
    return db.session.execute(query).first() is not None


def _keep_unmatched(report: DeliveryReport, at: datetime) -> None:
    db.session.add(
        UnmatchedDeliveryReport(
            provider_message_id=report.message_id,
            reference=report.reference,
            raw_status=(report.raw_status or "")[:32],
            received_at=now_utc(),
            payload=json.dumps(report.raw if isinstance(report.raw, dict) else {}, default=str),
        )
    )


def rematch(limit: int = 1000, provider_ids: list[str] | None = None) -> int:
    """Retry stored unmatched reports (the id may have been saved since). Caller commits.

    With `provider_ids`, only reports for those messages: a worker that has just
    recorded its sends calls this, so reports that overtook it apply at once.
    """
    from astronote.integrations.mitto.callbacks import parse_delivery_reports

    query = select(UnmatchedDeliveryReport).order_by(UnmatchedDeliveryReport.id).limit(limit)
    if provider_ids is not None:
        query = query.where(in_list(UnmatchedDeliveryReport.provider_message_id, provider_ids))
    rows = db.session.execute(query).scalars().all()
    parsed = {row.id: parse_delivery_reports(json.loads(row.payload)) for row in rows}
    known = _targets([r for reports in parsed.values() for r in reports])

    def ready(report: DeliveryReport) -> bool:
        key = _key(report, known)
        return key in known and known[key][1] != MessageStatus.SUBMITTING

    done = [row_id for row_id, reports in parsed.items() if reports and all(map(ready, reports))]
    apply([r for row_id in done for r in parsed[row_id]], found=known)
    if done:
        db.session.execute(
            delete(UnmatchedDeliveryReport).where(in_list(UnmatchedDeliveryReport.id, done))
        )
    finished = set(done)
    waiting = [row.id for row in rows if row.id not in finished]
    if waiting:
        db.session.execute(
            update(UnmatchedDeliveryReport.__table__)
            .where(in_list(UnmatchedDeliveryReport.id, waiting))
            .values(attempts=UnmatchedDeliveryReport.attempts + 1)
        )
    return len(done)
