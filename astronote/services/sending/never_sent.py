"""Tell "never sent" from "sent, answer lost" among `unknown` rows, once the evidence is in.

A worker killed after its chunk was fenced but before the POST leaves rows that
look exactly like a read timeout: `unknown`, charged. The provider's own
behaviour settles it later. Every message it accepts ends in a final delivery
report (delivered, failed or expired by the end of its validity period), and
reports carry our reference, which matches `unknown` rows too. So a row still
`unknown` with no report at all (`delivery_status` is set by any report, even
an in-flight one) once the validity period plus a margin has passed was never
accepted: it becomes `skipped` with skip_reason `not_sent`, and its credits
come back (a refund in the ledger, keyed by the rows it covers).

Where a row has a provider id, Mitto's status lookup is asked first: an answer
means it was accepted, and its status is kept; only a 404 counts as not sent.

The merchant resends such rows explicitly (campaigns.lifecycle.resend_not_sent);
nothing here ever resends.

Flushes only; the caller commits.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import String, cast, exists, func, select, update

from astronote.extensions import db
from astronote.integrations.mitto.client import MittoError, MittoPermanentError
from astronote.models import Campaign, Message, MessageStatus, UnmatchedDeliveryReport, now_utc
from astronote.services import credits
from astronote.services.sending import provider
from astronote.services.sql import in_list

log = logging.getLogger("astronote.sending")
messages = Message.__table__
NOT_SENT = "not_sent"
MARGIN = timedelta(hours=6)  # reports of the last moments of the validity period
# Only campaigns that finished at most this long before the cutoff are looked at, so
# the hourly query walks the (campaign_id, status) index of a few campaigns, never the
# whole messages table.
LOOK_BACK = timedelta(days=14)
BATCH = 1000


def cutoff(validity_hours: float):
    return now_utc() - timedelta(hours=float(validity_hours)) - MARGIN


def _candidates(before, after_id: int, limit: int):
    recent = select(Campaign.id).where(Campaign.finished_at >= before - LOOK_BACK)
    # A report we could not match yet that names this row is evidence it was sent.
    unmatched = exists().where(UnmatchedDeliveryReport.reference == cast(messages.c.id, String))
    query = (
        select(messages.c.id, messages.c.provider_message_id)
        .where(
            messages.c.campaign_id.in_(recent),  # campaign rows: always billed when unknown
            messages.c.status == MessageStatus.UNKNOWN,
            messages.c.delivery_status.is_(None),  # no report of any kind ever came
            messages.c.report_at.is_(None),
            messages.c.claimed_at < before,
            messages.c.id > after_id,
            ~unmatched,
        )
        .order_by(messages.c.id)
        .limit(limit)
    )
    return db.session.execute(query).all()


def _provider_knows(message_id: str) -> bool | None:
    """True: Mitto has it; False: 404, it never had it; None: cannot tell now."""
    try:
        found = provider.mitto().get_status(message_id)
    except MittoPermanentError as exc:
        return False if exc.status == 404 else None
    except MittoError:
        return None
    status = found.get("deliveryStatus")
    db.session.execute(
        update(messages)
        .where(messages.c.provider_message_id == message_id)
        .values(delivery_status=str(status or "accepted")[:32])
    )
    return True


def mark(validity_hours: float, after_id: int = 0, limit: int = BATCH) -> tuple[int, int | None]:
    """Look at up to `limit` candidate rows after `after_id`; mark the never-sent ones and
    refund them. Returns (how many were marked, the last id looked at, None when done):
    rows the provider cannot answer for now are passed over, never looked at forever."""
    candidates = _candidates(cutoff(validity_hours), after_id, limit)
    if not candidates:
        return 0, None
    ids = []
    for row in candidates:
        if row.provider_message_id is None or _provider_knows(row.provider_message_id) is False:
            ids.append(row.id)
    if not ids:
        return 0, candidates[-1].id
    moved = db.session.execute(
        update(messages)
        .where(in_list(messages.c.id, ids), messages.c.status == MessageStatus.UNKNOWN)
        .values(status=MessageStatus.SKIPPED, skip_reason=NOT_SENT, claim_token=None)
        .returning(
            messages.c.id,
            messages.c.shop_id,
            messages.c.campaign_id,
            # What was charged: the row's price when queued (NULL on rows older than 0010).
            func.coalesce(messages.c.credits, messages.c.segments).label("cost"),
        )
    ).all()
    _refund(moved)
    log.warning("%d unknown messages had no report after their validity: not sent", len(moved))
    return len(moved), candidates[-1].id


def _refund(rows) -> None:
    """One refund per shop and campaign. Keyed by the campaign's send run and the lowest
    row id it covers: the conditional update above moves each row once per run, and a
    resend starts a new run, so a key never covers two sets."""
    groups: dict[tuple, list] = {}
    for row in rows:
        groups.setdefault((row.shop_id, row.campaign_id), []).append(row)
    for (shop_id, campaign_id), group in groups.items():
        amount = sum(r.cost for r in group)
        if amount:
            run = db.session.get(Campaign, campaign_id).send_run
            key = f"not_sent:{campaign_id}:{run}:{min(r.id for r in group)}"
            note = f"{len(group)} message(s) never reached the provider"
            credits.refund(shop_id, amount, key, note, campaign_id)
