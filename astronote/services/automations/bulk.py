"""Set-based dispatch: a batch of one shop's runs of one flow becomes its messages in one
INSERT … SELECT, however many contacts a daily scan scheduled.

For flows whose message needs nothing from the trigger (welcome, cross-sell, win-back,
birthday). The send-time checks of `guards` run as a few UPDATEs over the batch; the
text is rendered once per distinct name pair in Python (exactly as the per-run path
renders it) and joined in by the pair; the cost (segments x destination price) comes
from those renders and the SQL price table, so the reservation is exact. Shops that
end messages with a personal opt-out link (computed per contact in Python) go through
the per-run path instead.

Flush only; raises InsufficientCredits (the dispatcher then goes run by run).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, Text, and_, exists, func, literal, select, update

from astronote.extensions import db
from astronote.models import (
    Automation,
    AutomationRun,
    ConsentState,
    Contact,
    Message,
    MessageStatus,
    RunStatus,
    Shop,
)
from astronote.services import credits, links
from astronote.services.automations import guards
from astronote.services.automations.catalogue import flow as flow_of
from astronote.services.billing import pricing
from astronote.services.messaging.rendering import opt_out_text, render, values_for
from astronote.services.messaging.segments import segment_count
from astronote.services.sql import avoid_nested_loops, in_list, insert, values_table

FLOWS = ("welcome", "cross_sell", "win_back", "birthday")
runs, contacts, messages = AutomationRun.__table__, Contact.__table__, Message.__table__
COLUMNS = ["shop_id", "contact_id", "kind", "phone", "first_name", "last_name", "body"]
COLUMNS += ["segments", "credits", "status", "attempts", "created_at"]


def eligible(shop: Shop | None) -> bool:
    return shop is not None and shop.opt_out_mode != "link"


def dispatch_group(
    shop: Shop, automation: Automation | None, flow: str, run_ids: list[int], now: datetime
) -> list[int]:
    """The batch's messages (ids), its other runs ended with their reasons."""
    if not shop.is_active or automation is None or not automation.enabled:
        reason = "shop_inactive" if not shop.is_active else "flow_off"
        end(run_ids, RunStatus.CANCELLED, reason, now)
        return []
    _check(flow, run_ids, now)
    _defer_quiet(shop, flow, run_ids, now)
    pending = _pending(run_ids, now)
    if not pending:
        return []

    def text_for(first: str, last: str) -> str:  # exactly the per-run path's text
        values = values_for(shop, first, last, automation.discount_code)
        return render(automation.body, values, opt_out_text(shop))

    created = _insert_messages(shop, flow, text_for, list(pending), now)
    if not created:
        return []
    # A URL becomes each message's short link (one UPDATE), priced before the reservation.
    priced = links.shorten_flow(shop, automation, [m for m, _, _ in created])
    created = [(m, c, priced.get(m, cost)) for m, c, cost in created]
    total = sum(cost for _, _, cost in created)
    credits.reserve(shop.id, total, f"automations:{flow}:{min(run_ids)}:reserve")
    mark_queued([(pending[contact_id], message_id) for message_id, contact_id, _ in created], now)
    return sorted(message_id for message_id, _, _ in created)


def end(run_ids: list[int], status: str, reason: str, now: datetime, *where) -> None:
    """End these runs (still scheduled) with a status and reason, in one UPDATE."""
    db.session.execute(
        update(runs)
        .where(in_list(runs.c.id, run_ids), runs.c.status == RunStatus.SCHEDULED.value, *where)
        .values(status=RunStatus(status).value, skip_reason=reason, finished_at=now)
    )


def _check(flow: str, run_ids: list[int], now: datetime) -> None:
    """`guards.check`, set-based, in its order (the first reason that applies wins)."""
    contact = select(contacts.c.id).where(
        contacts.c.id == runs.c.contact_id, contacts.c.shop_id == runs.c.shop_id
    )
    consent = contacts.c.consent_state
    skipped = RunStatus.SKIPPED
    end(run_ids, skipped, "no_contact", now, ~exists(contact))
    unsubscribed = ConsentState.UNSUBSCRIBED.value
    end(run_ids, skipped, "opted_out", now, exists(contact.where(consent == unsubscribed)))
    if not flow_of(flow).transactional:
        others = consent != ConsentState.SUBSCRIBED.value
        end(run_ids, skipped, "not_subscribed", now, exists(contact.where(others)))
    end(run_ids, skipped, "expired", now, runs.c.due_at < now - guards.MAX_LATE[flow])
    if flow == "win_back":  # a new order since the scan: the quiet spell is over
        ordered = contacts.c.last_order_at > runs.c.created_at
        end(run_ids, RunStatus.CANCELLED, "ordered", now, exists(contact.where(ordered)))


def _defer_quiet(shop: Shop, flow: str, run_ids: list[int], now: datetime) -> None:
    """`guards.quiet_until` over the batch: runs whose recipient is in quiet hours wait,
    still scheduled (zones are cached per number prefix, so this is cheap per row)."""
    query = (
        select(runs.c.id, contacts.c.phone)
        .join(contacts, contacts.c.id == runs.c.contact_id)
        .where(in_list(runs.c.id, run_ids), runs.c.status == RunStatus.SCHEDULED.value)
    )
    later: dict[datetime, list[int]] = {}
    for run_id, phone in db.session.execute(query):
        until = guards.quiet_until(shop, flow, phone, now)
        if until is not None:
            later.setdefault(until, []).append(run_id)
    defer(later)


def defer(later: dict[datetime, list[int]]) -> None:
    """Runs (still scheduled) due again at a later time: one UPDATE per distinct time
    (a handful: quiet hours end at the same minute in each zone)."""
    for until, ids in later.items():
        db.session.execute(
            update(runs)
            .where(in_list(runs.c.id, ids), runs.c.status == RunStatus.SCHEDULED.value)
            .values(due_at=until, finished_at=None)
        )


def _pending(run_ids: list[int], now: datetime) -> dict[int, int]:
    """contact id -> run id of the runs still to send (a contact's later runs in the same
    batch wait for the next one: each message must map back to exactly one run)."""
    query = (
        select(runs.c.id, runs.c.contact_id)
        .where(in_list(runs.c.id, run_ids), runs.c.status == RunStatus.SCHEDULED.value)
        .where(runs.c.due_at <= now)  # not the runs deferred by quiet hours
        .order_by(runs.c.id)
    )
    pending: dict[int, int] = {}
    for run_id, contact_id in db.session.execute(query):
        pending.setdefault(contact_id, run_id)
    return pending


def _insert_messages(shop: Shop, flow: str, text_for, contact_ids, now) -> list[tuple]:
    """One INSERT … SELECT; returns (message id, contact id, credits) per message.
    `text_for(first, last)`: the text, rendered once per distinct name pair in Python
    (as the per-run path renders it: placeholders filled, then stripped)."""
    first = func.coalesce(contacts.c.first_name, "")
    last = func.coalesce(contacts.c.last_name, "")
    mine = and_(in_list(contacts.c.id, contact_ids), contacts.c.shop_id == shop.id)
    pairs = db.session.execute(select(first, last).where(mine).distinct()).all()
    texts = [(f, n, text_for(f, n)) for f, n in pairs]
    sized = [(f, n, text, segment_count(text)) for f, n, text in texts]
    if not sized:
        return []
    columns = {"nf": Text, "nl": Text, "body": Text, "segs": Integer}
    names = values_table("names", columns, sized)
    present = db.session.execute(select(pricing.prefix(contacts.c.phone)).where(mine).distinct())
    price = pricing.price_case(contacts.c.phone, list(present.scalars()))
    rows = (
        select(
            literal(shop.id),
            contacts.c.id,
            literal(flow_of(flow).kind),
            contacts.c.phone,
            contacts.c.first_name,
            contacts.c.last_name,
            names.c.body,
            names.c.segs,
            names.c.segs * price,
            literal(MessageStatus.QUEUED.value),
            literal(0),
            literal(now, messages.c.created_at.type),
        )
        .select_from(contacts.join(names, and_(names.c.nf == first, names.c.nl == last)))
        .where(mine)
    )
    avoid_nested_loops()
    stmt = insert(messages).from_select(COLUMNS, rows)
    returned = stmt.returning(messages.c.id, messages.c.contact_id, messages.c.credits)
    return [tuple(row) for row in db.session.execute(returned)]


def mark_queued(pairs: list[tuple[int, int]], now: datetime) -> None:
    """runs -> queued with their message, in one UPDATE … FROM."""
    v = values_table("q", {"rid": BigInteger, "mid": BigInteger}, pairs)
    db.session.execute(
        update(runs)
        .where(in_list(runs.c.id, [r for r, _ in pairs]), runs.c.id == v.c.rid)
        .values(status=RunStatus.QUEUED.value, message_id=v.c.mid, finished_at=now)
    )
